import Foundation
import LatchkeyCrypto
import LatchkeySSH
import Testing

/// A vector file: `latchkey-ssh-vector: 1`, then `name: value` header lines, one
/// empty line, then the exact key file bytes. Unknown or repeated headers, a missing
/// `expect` or a file name not starting `good-` / `bad-` fail the test.
struct Vector: CustomStringConvertible {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Vectors")
    static let formatLine = "latchkey-ssh-vector: 1"
    static let knownHeaders: Set = ["expect", "type", "seed", "comment", "check-int", "public-line", "fingerprint", "source"]

    struct FormatError: Error, CustomStringConvertible {
        let description: String
    }

    let name: String
    let headers: [String: String]
    let body: [UInt8]
    var description: String { name }

    /// The expected error code of a bad- vector, or nil for `expect: ok`.
    var expectedError: String? {
        guard let expect = headers["expect"], expect.hasPrefix("error ") else { return nil }
        return String(expect.dropFirst("error ".count))
    }

    static func names(_ prefix: String) -> [String] {
        let all = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return all.filter { $0.hasPrefix(prefix) && $0.hasSuffix(".vec") }.map { String($0.dropLast(4)) }.sorted()
    }

    static func load(_ name: String) throws -> Vector {
        try Vector(name: name, contents: [UInt8](Data(contentsOf: directory.appendingPathComponent(name + ".vec"))))
    }

    init(name: String, contents: [UInt8]) throws {
        guard name.hasPrefix("good-") || name.hasPrefix("bad-") else { throw FormatError(description: "\(name): not good-/bad-") }
        self.name = name
        guard let split = contents.indices.dropLast().first(where: { contents[$0] == 0x0a && contents[$0 + 1] == 0x0a }) else {
            throw FormatError(description: "\(name): no empty line after the headers")
        }
        let lines = String(decoding: contents[..<split], as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.first == Substring(Self.formatLine) else { throw FormatError(description: "\(name): first line is not '\(Self.formatLine)'") }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":"), line[line.index(after: colon)...].hasPrefix(" ") else {
                throw FormatError(description: "\(name): header line without 'name: value'")
            }
            let key = String(line[..<colon])
            guard Self.knownHeaders.contains(key) else { throw FormatError(description: "\(name): unknown header '\(key)'") }
            guard headers[key] == nil else { throw FormatError(description: "\(name): header '\(key)' repeated") }
            headers[key] = String(line[line.index(colon, offsetBy: 2)...])
        }
        guard let expect = headers["expect"], expect == "ok" || expect.hasPrefix("error ") else {
            throw FormatError(description: "\(name): 'expect: ok' or 'expect: error CODE' required")
        }
        guard (expect == "ok") == name.hasPrefix("good-") else { throw FormatError(description: "\(name): expect does not fit the name") }
        guard headers["source"] != nil else { throw FormatError(description: "\(name): 'source' required") }
        self.headers = headers
        body = Array(contents[(split + 2)...])
    }

    func secretBody() throws -> SecretBytes {
        var copy = body
        return try SecretBytes(consuming: &copy)
    }
}

@Suite struct VectorTests {
    @Test func vectorDirectoryHoldsOnlyNamedVectors() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Vector.directory.path)
        for file in files where file != "make-vectors.py" {
            #expect((file.hasPrefix("good-") || file.hasPrefix("bad-")) && file.hasSuffix(".vec"), "unexpected file \(file)")
        }
        #expect(Vector.names("good-").count >= 4)
        #expect(Vector.names("bad-").count >= 10)
    }

    @Test func vectorReaderRefusesUnknownHeaders() {
        func parse(_ text: String) throws -> Vector { try Vector(name: "good-x", contents: Array(text.utf8)) }
        #expect(throws: Vector.FormatError.self) { try parse("latchkey-ssh-vector: 1\nexpect: ok\nsource: s\nexpected: x\n\nbody") }
        #expect(throws: Vector.FormatError.self) { try parse("latchkey-ssh-vector: 1\nexpect: ok\nsource: s\nsource: t\n\nbody") }
        #expect(throws: Vector.FormatError.self) { try parse("latchkey-ssh-vector: 2\nexpect: ok\nsource: s\n\nbody") }
        #expect(throws: Vector.FormatError.self) { try parse("latchkey-ssh-vector: 1\nexpect: error x\nsource: s\n\nbody") }
        #expect(throws: Vector.FormatError.self) { try parse("latchkey-ssh-vector: 1\nsource: s\n\nbody") }
        #expect(throws: Never.self) { try parse("latchkey-ssh-vector: 1\nexpect: ok\nsource: s\n\nbody") }
    }

    /// Good vectors parse to the expected public line and fingerprint; where the file
    /// records its check integer, re-encoding reproduces it byte for byte (for
    /// ssh-keygen's files this pins our writer to OpenSSH's exact layout).
    @Test(arguments: Vector.names("good-"))
    func goodVectorParsesToItsPublicLine(name: String) throws {
        let vector = try Vector.load(name)
        let key = try DeployKey(openSSHPrivateKey: vector.secretBody())
        let comment = try #require(vector.headers["comment"])
        #expect(key.type.rawValue == vector.headers["type"])
        #expect(key.authorizedKeysLine(comment: comment) == vector.headers["public-line"])
        #expect(key.fingerprint == vector.headers["fingerprint"])
        if let check = vector.headers["check-int"] {
            let checkInt = try #require(UInt32(check, radix: 16))
            let pem = try key.openSSHPrivateKey(comment: comment, checkInt: checkInt)
            // A Bool first: an expectation over the bytes would print the private key on failure.
            let identical = pem.constantTimeEquals(vector.body)
            #expect(identical, "re-encoding differs from \(name)")
        }
    }

    /// RFC 8032 test 1's seed gives exactly the recorded public line, fingerprint and PEM.
    @Test func fixedEd25519SeedGivesKnownLineFingerprintAndPEM() throws {
        let vector = try Vector.load("good-ed25519-rfc8032-seed")
        var seedBytes = try #require(Hex.decode(vector.headers["seed"] ?? ""))
        let key = try DeployKey(ed25519Seed: SecretBytes(consuming: &seedBytes))
        let comment = try #require(vector.headers["comment"])
        #expect(key.authorizedKeysLine(comment: comment) == vector.headers["public-line"])
        #expect(key.fingerprint == vector.headers["fingerprint"])
        let checkInt = try #require(UInt32(vector.headers["check-int"] ?? "", radix: 16))
        let identical = try key.openSSHPrivateKey(comment: comment, checkInt: checkInt).constantTimeEquals(vector.body)
        #expect(identical, "the PEM differs from the vector")
        let listed = try Tool.sshKeygen(["-lf", "-"], stdin: Array((key.authorizedKeysLine(comment: comment) + "\n").utf8))
        #expect(listed.stdout.split(separator: " ").dropFirst().first.map(String.init) == vector.headers["fingerprint"])
    }

    /// Each bad vector is refused with its own error code, and the message carries no
    /// piece of the key file.
    @Test(arguments: Vector.names("bad-"))
    func badVectorIsRefusedWithItsCode(name: String) throws {
        let vector = try Vector.load(name)
        let expected = try #require(vector.expectedError)
        let error = #expect(throws: SSHKeyError.self) { try DeployKey(openSSHPrivateKey: vector.secretBody()) }
        #expect(error?.code == expected)
        let message = error?.description ?? ""
        let text = String(decoding: vector.body, as: UTF8.self)
        var leaked = false  // a Bool, so a failure does not print the key text itself
        for line in text.split(separator: "\n") where !line.hasPrefix("-----") {
            for start in stride(from: 0, to: max(line.count - 12, 0), by: 6) where message.contains(line.dropFirst(start).prefix(12)) {
                leaked = true
            }
        }
        #expect(!leaked, "the error message contains part of the key file")
    }

    @Test func badVectorsEachHaveTheirOwnCode() throws {
        let codes = try Vector.names("bad-").map { try #require(Vector.load($0).expectedError) }
        for code in [
            "ssh_key_empty", "ssh_key_truncated", "ssh_key_check_mismatch", "ssh_key_bad_padding", "ssh_key_encrypted",
            "ssh_key_trailing_data", "ssh_key_unknown_type", "ssh_key_not_pem", "ssh_key_bad_base64", "ssh_key_bad_magic",
            "ssh_key_count", "ssh_key_public_mismatch", "ssh_key_unsupported_size",
        ] {
            #expect(codes.contains(code), "no bad- vector for \(code)")
        }
    }

    @Test func everyTruncationOfAGoodKeyIsRefusedWithoutTrapping() throws {
        let body = try Vector.load("good-ssh-keygen-ecdsa-p256").body
        for length in stride(from: 0, to: body.count - 1, by: 7) {
            var prefix = Array(body.prefix(length))
            #expect(throws: SSHKeyError.self) { try DeployKey(openSSHPrivateKey: SecretBytes(consuming: &prefix)) }
        }
    }

    @Test func oversizedInputIsRefusedBeforeParsing() throws {
        let big = try SecretBytes(count: 65 * 1024) { $0.initializeMemory(as: UInt8.self, repeating: 0x41) }
        let error = #expect(throws: SSHKeyError.self) { try DeployKey(openSSHPrivateKey: big) }
        #expect(error?.code == "ssh_key_too_large")
    }
}
