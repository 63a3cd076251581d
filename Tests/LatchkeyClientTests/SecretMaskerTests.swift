import Foundation
import LatchkeyClient
import LatchkeyTestSupport
import Testing

@Suite struct SecretMaskerTests {
    let token = Array("ghp_R3alLyS3cr3tT0k3nV4lu3xyz".utf8)

    func masked(_ input: String, secrets: [[UInt8]], chunk: Int = 1_000_000) -> String {
        var m = SecretMasker(secrets: secrets)
        var out: [UInt8] = []
        let bytes = Array(input.utf8)
        var i = 0
        while i < bytes.count {
            out += m.process(bytes[i..<min(i + chunk, bytes.count)])
            i += chunk
        }
        out += m.finish()
        return String(decoding: out, as: UTF8.self)
    }

    @Test func exactSecretIsMasked() {
        #expect(masked("token=ghp_R3alLyS3cr3tT0k3nV4lu3xyz done", secrets: [token]) == "token=[MASKED] done")
    }

    @Test func secretSplitAcrossEveryReadBoundaryIsMasked() {
        let text = "a ghp_R3alLyS3cr3tT0k3nV4lu3xyz b ghp_R3alLyS3cr3tT0k3nV4lu3xyz"
        for chunk in 1...12 {
            #expect(masked(text, secrets: [token], chunk: chunk) == "a [MASKED] b [MASKED]")
        }
    }

    @Test func encodedFormsAreMasked() {
        let b64 = Data(token).base64EncodedString()
        #expect(!masked("auth \(b64)", secrets: [token]).contains(b64))
        // Inside a longer base64 stream at every alignment (e.g. Basic auth "user:token").
        for prefix in ["u:", "us:", "usr:"] {
            let basic = Data((prefix.utf8) + token).base64EncodedString()
            #expect(masked("Authorization: Basic \(basic)", secrets: [token]).contains("[MASKED]"))
        }
        let special = Array("p@ss/w+rd?&=\"quote\"\\".utf8)
        let url = "https://x/?t=" + (String(decoding: special, as: UTF8.self).addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")
        #expect(masked(url, secrets: [special]) == "https://x/?t=[MASKED]")
        #expect(masked(#"{"t":"p@ss/w+rd?&=\"quote\"\\"}"#, secrets: [special]) == #"{"t":"[MASKED]"}"#)
    }

    @Test func multiLineSecretIsMaskedLineByLine() {
        let pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\nAAAAAAAAAAEAAAAzAAAAC3NzaC1lZDI1NTE5\n-----END OPENSSH PRIVATE KEY-----\n"
        let out = masked("cat key:\n" + pem.split(separator: "\n")[1] + "\nmore\n", secrets: [Array(pem.utf8)])
        #expect(out == "cat key:\n[MASKED]\nmore\n")
        #expect(masked(pem, secrets: [Array(pem.utf8)]) == "[MASKED]")
    }

    @Test func ordinaryTextPassesThroughUnchanged() {
        let text = "Cloning into 'web'...\nremote: Counting objects: 100% (3/3), done.\n-----\n"
        #expect(masked(text, secrets: [token], chunk: 3) == text)
    }

    // MARK: what real tools print (#16 finding 9)

    /// A fresh OpenSSH private key from ssh-keygen, as a release hands it out.
    static func key(_ type: String = "ed25519") throws -> [UInt8] {
        let dir = NSTemporaryDirectory() + "lk-mask-\(UUID().uuidString.prefix(8))"
        mkdir(dir, 0o700)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = runCaptured(["ssh-keygen", "-q", "-t", type, "-N", "", "-C", "mask", "-f", dir + "/k"])
        guard r.status == 0, let d = FileManager.default.contents(atPath: dir + "/k") else { throw CocoaError(.fileNoSuchFile) }
        return Array(d)
    }

    /// A shell pipeline run on `input` (the key on stdin), its stdout.
    func tool(_ script: String, input: [UInt8]) -> [UInt8] {
        Array(runCaptured(["/bin/sh", "-c", script], stdin: Data(input)).out)
    }

    func masked(_ input: [UInt8], secrets: [[UInt8]], chunk: Int = 1_000_000) -> String {
        var m = SecretMasker(secrets: secrets)
        var out: [UInt8] = []
        var i = 0
        while i < input.count {
            out += m.process(input[i..<min(i + chunk, input.count)])
            i += chunk
        }
        out += m.finish()
        return String(decoding: out, as: UTF8.self)
    }

    /// What is left of the masked text once masks and line breaks are taken out: the
    /// pieces between masks (each too short to recover anything of the key from).
    func residue(_ text: String) -> [String] {
        text.replacingOccurrences(of: "\n", with: "").replacingOccurrences(of: "\r", with: "")
            .components(separatedBy: "[MASKED]")
    }

    @Test func base64OfTheWholeKeyWrappedAt64Or76ColumnsAtEveryAlignmentIsMasked() throws {
        let key = try Self.key()
        for width in [64, 76] {
            // Prefixes shift the key through every base64 alignment and line-break phase.
            for prefixLength in 0..<(width * 3 / 4 + 3) {
                let prefix = [UInt8](repeating: UInt8(ascii: "p"), count: prefixLength)
                let encoded = tool("base64 -w \(width)", input: prefix + key)
                let out = masked(encoded, secrets: [key], chunk: 97)
                let pieces = residue(out)
                #expect(pieces.count >= 2, "width \(width) prefix \(prefixLength): not masked")
                // Before the mask: the prefix's own characters; after it: padding only.
                #expect(pieces.first!.count <= (prefixLength * 4 + 2) / 3 + 1, "width \(width) prefix \(prefixLength)")
                #expect(pieces.last!.count <= 4, "width \(width) prefix \(prefixLength): \(pieces.last!)")
            }
        }
    }

    @Test func partOfABase64DumpIsMaskedLineByLine() throws {
        let key = try Self.key("rsa")
        // The first dozen lines of `base64 < key`: the whole-key form cannot match; each
        // line of the PEM is masked on its own, so no run long enough to matter is left.
        let head = tool("base64 | head -n 12", input: key)
        let pieces = residue(masked(head, secrets: [key], chunk: 33))
        #expect(pieces.count > 8)
        for piece in pieces.dropFirst().dropLast() { #expect(piece.count <= 8, "\(piece)") }
        #expect(pieces.last!.count <= 100)
    }

    @Test func hexInEitherCaseWrappedOrNotIsMasked() throws {
        let key = try Self.key()
        for script in ["xxd -p", "xxd -p -u", "xxd -p -c 1000", "od -An -tx1 -v | tr -d ' \\n'"] {
            let out = masked(tool(script, input: key), secrets: [key], chunk: 50)
            let pieces = residue(out)
            #expect(pieces.count == 2 && pieces.allSatisfy { $0.count <= 2 }, "\(script): \(out.prefix(300)) … \(out.suffix(200))")
        }
    }

    @Test func percentEncodingInEitherCaseIsMasked() throws {
        let secret = Array("p@ss/w+rd?&=tok3n".utf8)
        let upper = String(decoding: secret, as: UTF8.self).addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        let lower = upper.replacingOccurrences(of: "%2F", with: "%2f").replacingOccurrences(of: "%2B", with: "%2b")
        #expect(lower.contains("%2f"))
        for form in [upper, lower, upper.lowercased().replacingOccurrences(of: "tok3n", with: "tok3n")] where form.contains("%") {
            #expect(masked("u=" + form + " end", secrets: [secret]).hasPrefix("u=[MASKED]"), "\(form)")
        }
        let key = try Self.key()
        let curl = tool("python3 -c 'import sys,urllib.parse; import re; print(re.sub(\"%[0-9A-F]{2}\", lambda m: m.group(0).lower(), urllib.parse.quote(sys.stdin.read(), safe=\"\")))'", input: key)
        #expect(residue(masked(curl, secrets: [key])).joined().count <= 4)
    }

    @Test func jsonWithEscapedSlashesIsMasked() throws {
        let key = try Self.key()
        // PHP's json_encode escapes "/" as "\/"; Go's escapes "<" as "\u003c".
        let json = tool("python3 -c 'import sys,json; print(json.dumps({\"k\": sys.stdin.read()}).replace(\"/\", \"\\\\/\"))'", input: key)
        #expect(String(decoding: json, as: UTF8.self).contains(#"\/"#) || !key.contains(UInt8(ascii: "/")))
        #expect(masked(json, secrets: [key]) == #"{"k": "[MASKED]"}"# + "\n")
        let slash = Array("a/b/c/d/e/f/g".utf8)
        #expect(masked(#"{"t":"a\/b\/c\/d\/e\/f\/g"}"#, secrets: [slash]) == #"{"t":"[MASKED]"}"#)
        #expect(masked(#"{"t":"a\u002fb/c/d/e\/f\u002Fg"}"#, secrets: [slash]) == #"{"t":"[MASKED]"}"#)
    }

    @Test func theKeysBase64BodyIsMaskedReWrappedAndDecoded() throws {
        let key = try Self.key("rsa")
        let body = "grep -v -- ----- | tr -d '\\n'"
        for script in ["\(body) | fold -w 64", "\(body) | fold -w 76", body, "\(body) | base64 -d | xxd -p", "\(body) | base64 -d | base64 -w 76"] {
            let out = masked(tool(script, input: key), secrets: [key], chunk: 61)
            #expect(residue(out).joined().count <= 4, "\(script): \(out.prefix(120))")
        }
        // Every line of the body, printed on its own, is masked.
        let lines = String(decoding: key, as: UTF8.self).split(separator: "\n").filter { !$0.hasPrefix("-----") }
        for line in lines where line.count >= 12 {
            #expect(masked("> " + line + " <", secrets: [key]) == "> [MASKED] <")
        }
    }
}
