import Foundation
import LatchkeyClient
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
}
