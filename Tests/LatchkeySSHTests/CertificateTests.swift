import Foundation
import LatchkeyCrypto
import LatchkeySSH
import Testing

/// A certificate vector: `latchkey-ssh-cert-vector: 1`, `name: value` headers, one
/// empty line, then the `-cert.pub` line. Unknown or repeated headers, a missing
/// `expect` or `source`, or a name not starting `good-` / `bad-` fail the test.
struct CertificateVector: CustomStringConvertible {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("CertificateVectors")
    static let formatLine = "latchkey-ssh-cert-vector: 1"
    static let knownHeaders: Set = [
        "expect", "source", "ca-seed", "subject-seed", "nonce", "key-id", "serial", "principals", "valid-after", "valid-before",
        "critical-options", "extensions",
    ]

    let name: String
    let headers: [String: String]
    let body: [UInt8]
    var description: String { name }

    var expectedError: String? {
        guard let expect = headers["expect"], expect.hasPrefix("error ") else { return nil }
        return String(expect.dropFirst("error ".count))
    }

    static func names(_ prefix: String) -> [String] {
        let all = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return all.filter { $0.hasPrefix(prefix) && $0.hasSuffix(".vec") }.map { String($0.dropLast(4)) }.sorted()
    }

    static func load(_ name: String) throws -> CertificateVector {
        try CertificateVector(name: name, contents: [UInt8](Data(contentsOf: directory.appendingPathComponent(name + ".vec"))))
    }

    init(name: String, contents: [UInt8]) throws {
        guard name.hasPrefix("good-") || name.hasPrefix("bad-") else { throw Vector.FormatError(description: "\(name): not good-/bad-") }
        self.name = name
        guard let split = contents.indices.dropLast().first(where: { contents[$0] == 0x0a && contents[$0 + 1] == 0x0a }) else {
            throw Vector.FormatError(description: "\(name): no empty line after the headers")
        }
        let lines = String(decoding: contents[..<split], as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.first == Substring(Self.formatLine) else {
            throw Vector.FormatError(description: "\(name): first line is not '\(Self.formatLine)'")
        }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":"), line[line.index(after: colon)...].hasPrefix(" ") else {
                throw Vector.FormatError(description: "\(name): header line without 'name: value'")
            }
            let key = String(line[..<colon])
            guard Self.knownHeaders.contains(key) else { throw Vector.FormatError(description: "\(name): unknown header '\(key)'") }
            guard headers[key] == nil else { throw Vector.FormatError(description: "\(name): header '\(key)' repeated") }
            headers[key] = String(line[line.index(colon, offsetBy: 2)...])
        }
        guard let expect = headers["expect"], expect == "ok" || expect.hasPrefix("error ") else {
            throw Vector.FormatError(description: "\(name): 'expect: ok' or 'expect: error CODE' required")
        }
        guard (expect == "ok") == name.hasPrefix("good-") else { throw Vector.FormatError(description: "\(name): expect does not fit the name") }
        guard headers["source"] != nil else { throw Vector.FormatError(description: "\(name): 'source' required") }
        self.headers = headers
        body = Array(contents[(split + 2)...])
    }

    func header(_ key: String) throws -> String {
        guard let v = headers[key] else { throw Vector.FormatError(description: "\(name): header '\(key)' missing") }
        return v
    }
}

/// Deterministic ed25519 keys from hex seeds.
func ed25519Key(seedHex: String) throws -> DeployKey {
    var seed = try #require(Hex.decode(seedHex))
    return try DeployKey(ed25519Seed: SecretBytes(consuming: &seed))
}

/// Options in the vectors' `a=b,c` form.
func options(_ text: String) throws -> [SSHCertificateOption] {
    try text.split(separator: ",").map { try SSHCertificateOption(parsing: String($0)) }
}

/// One CA per type, made once for the suite (RSA generation takes a moment).
enum SharedAuthorities {
    private static let cas: [CertificateAuthorityType: Swift.Result<CertificateAuthority, any Error>] = {
        var out: [CertificateAuthorityType: Swift.Result<CertificateAuthority, any Error>] = [:]
        for type in CertificateAuthorityType.allCases { out[type] = Swift.Result { try CertificateAuthority.generate(type: type) } }
        return out
    }()

    static func ca(_ type: CertificateAuthorityType) throws -> CertificateAuthority { try cas[type]!.get() }
}

@Suite struct CertificateVectorTests {
    @Test func certificateVectorDirectoryHoldsOnlyNamedVectors() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: CertificateVector.directory.path)
        for file in files where file != "make-cert-vectors.py" {
            #expect((file.hasPrefix("good-") || file.hasPrefix("bad-")) && file.hasSuffix(".vec"), "unexpected file \(file)")
        }
        #expect(CertificateVector.names("good-").count >= 1)
        #expect(CertificateVector.names("bad-").count >= 10)
    }

    @Test func certificateVectorReaderRefusesUnknownHeaders() {
        func parse(_ text: String) throws -> CertificateVector { try CertificateVector(name: "good-x", contents: Array(text.utf8)) }
        #expect(throws: Vector.FormatError.self) { try parse("latchkey-ssh-cert-vector: 1\nexpect: ok\nsource: s\nkeyid: x\n\nbody") }
        #expect(throws: Vector.FormatError.self) { try parse("latchkey-ssh-cert-vector: 1\nexpect: ok\nsource: s\nsource: t\n\nbody") }
        #expect(throws: Vector.FormatError.self) { try parse("latchkey-ssh-vector: 1\nexpect: ok\nsource: s\n\nbody") }
        #expect(throws: Vector.FormatError.self) { try parse("latchkey-ssh-cert-vector: 1\nexpect: error x\nsource: s\n\nbody") }
        #expect(throws: Never.self) { try parse("latchkey-ssh-cert-vector: 1\nexpect: ok\nsource: s\n\nbody") }
    }

    /// ssh-keygen's own certificate, re-issued by Latchkey from the same CA seed, subject
    /// seed, nonce and fields, is byte-identical (ed25519 signatures are deterministic):
    /// our layout, option encoding and sorting are OpenSSH's.
    @Test func issuedCertificateIsByteIdenticalToSshKeygens() throws {
        let v = try CertificateVector.load("good-ssh-keygen-ed25519-ca")
        let ca = try CertificateAuthority(key: ed25519Key(seedHex: v.header("ca-seed")))
        let subject = try ed25519Key(seedHex: v.header("subject-seed"))
        let request = SSHCertificate.Request(
            serial: try #require(UInt64(v.header("serial"))), keyID: try v.header("key-id"),
            principals: try v.header("principals").split(separator: ",").map(String.init),
            validAfter: try #require(UInt64(v.header("valid-after"))), validBefore: try #require(UInt64(v.header("valid-before"))),
            criticalOptions: try options(v.header("critical-options")),
            // Given out of order: the encoder sorts, as the spec requires.
            extensions: try options(v.header("extensions")).reversed())
        let cert = try SSHCertificate.issue(for: subject, request, by: ca, nonce: #require(Hex.decode(v.header("nonce"))))
        let expected = try SSHCertificate(line: String(decoding: v.body, as: UTF8.self))
        #expect(cert.blob == expected.blob)
        #expect(cert.line(comment: "subject") + "\n" == String(decoding: v.body, as: UTF8.self))
    }

    /// ssh-keygen's certificate parses to exactly the fields it was made with.
    @Test func sshKeygenCertificateParsesToItsFields() throws {
        let v = try CertificateVector.load("good-ssh-keygen-ed25519-ca")
        let cert = try SSHCertificate(line: String(decoding: v.body, as: UTF8.self))
        #expect(cert.kind == .user)
        #expect(cert.serial == 42)
        #expect(cert.keyID == (try v.header("key-id")))
        #expect(cert.principals == ["git", "deploy"])
        #expect(cert.validAfter == 1_796_083_200)
        #expect(cert.validBefore == 1_796_086_800)
        #expect(cert.criticalOptions == [try SSHCertificateOption(name: "source-address", value: "127.0.0.0/8")])
        #expect(cert.extensions == [try SSHCertificateOption(name: "login@github.com", value: "octocat"), try SSHCertificateOption(name: "permit-pty")])
        #expect(cert.signatureAlgorithm == "ssh-ed25519")
        #expect(cert.signatureKeyFingerprint == "SHA256:bbXpuKG6zhzdmnxq256TlqzFBzRl2f6OOg722cYNbU8")
        #expect(cert.subjectFingerprint == "SHA256:F34nin7tcaYH6WR5LSWSfj6weFBPfBpuyUUoPFP9YjA")
    }

    @Test(arguments: CertificateVector.names("bad-"))
    func badCertificateVectorIsRefusedWithItsCode(name: String) throws {
        let v = try CertificateVector.load(name)
        let expected = try #require(v.expectedError)
        do {
            _ = try SSHCertificate(line: String(decoding: v.body, as: UTF8.self))
            Issue.record("\(name) parsed")
        } catch {
            #expect(error.code == expected, "\(name): \(error)")
        }
    }
}

@Suite struct CertificateIssueTests {
    static let now = UInt64(Date().timeIntervalSince1970)

    static func request(serial: UInt64 = 7) -> SSHCertificate.Request {
        SSHCertificate.Request(
            serial: serial, keyID: "latchkey:web:s-1:4711", principals: ["git"], validAfter: now - 60, validBefore: now + 3600,
            extensions: [try! SSHCertificateOption(name: "permit-pty"), try! SSHCertificateOption(name: "login@ghe.example", value: "ci-bot")])
    }

    /// `ssh-keygen -L` (which verifies the CA's signature as it reads the certificate)
    /// shows our type, CA, key id, serial, validity, principals and extensions exactly,
    /// for every CA type.
    @Test(arguments: CertificateAuthorityType.allCases)
    func sshKeygenListsIssuedCertificateExactly(type: CertificateAuthorityType) throws {
        let ca = try SharedAuthorities.ca(type)
        let subject = try DeployKey.generate()
        let request = SSHCertificate.Request(
            serial: 123_456_789_012, keyID: "latchkey:web:s-abc:4711", principals: ["git", "deploy"],
            validAfter: 1_796_083_200, validBefore: 1_796_086_800,
            extensions: [try SSHCertificateOption(name: "permit-pty"), try SSHCertificateOption(name: "login@ghe.example", value: "ci-bot")])
        let cert = try SSHCertificate.issue(for: subject, request, by: ca)
        let dir = try TempDirectory()
        let file = try dir.write("id_ed25519-cert.pub", Array((cert.line(comment: "latchkey") + "\n").utf8))
        let r = try Tool.sshKeygen(["-L", "-f", file], environment: ["TZ": "UTC"])
        #expect(r.status == 0, "\(r.stderr)")
        let caName = ["ed25519": "ED25519", "ecdsa-p256": "ECDSA", "rsa-3072": "RSA"][type.rawValue]!
        let expected = [
            "Type: ssh-ed25519-cert-v01@openssh.com user certificate",
            "Public key: ED25519-CERT \(subject.fingerprint)",
            "Signing CA: \(caName) \(ca.fingerprint) (using \(type.signatureAlgorithm))",
            "Key ID: \"latchkey:web:s-abc:4711\"",
            "Serial: 123456789012",
            "Valid: from 2026-12-01T00:00:00 to 2026-12-01T01:00:00",
            "Principals:", "git", "deploy",
            "Critical Options: (none)",
            "Extensions:", "login@ghe.example UNKNOWN OPTION: 0000000663692d626f74 (len 10)", "permit-pty",
        ]
        // The first line names the file; the rest are indented with tabs or spaces.
        let lines = r.stdout.split(separator: "\n").dropFirst().map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(lines == expected)
        #expect(cert.signatureAlgorithm == type.signatureAlgorithm)
    }

    /// What `issue` returns parses back to the same certificate.
    @Test(arguments: CertificateAuthorityType.allCases)
    func issuedCertificateParsesBack(type: CertificateAuthorityType) throws {
        let cert = try SSHCertificate.issue(for: DeployKey.generate(), Self.request(), by: SharedAuthorities.ca(type))
        let parsed = try SSHCertificate(blob: cert.blob)
        #expect(parsed == cert)
        #expect(parsed.extensions.map(\.name) == ["login@ghe.example", "permit-pty"])
        #expect(parsed.signatureKey == (try SharedAuthorities.ca(type).publicKeyBlob))
        #expect(parsed.nonce.count == SSHCertificate.nonceBytes)
        #expect(try SSHCertificate(line: cert.line(comment: "c")) == cert)
    }

    /// ssh-keygen accepts the CA's public key line (as sshd reads TrustedUserCAKeys).
    @Test(arguments: CertificateAuthorityType.allCases)
    func caPublicKeyLineIsReadBySshKeygen(type: CertificateAuthorityType) throws {
        let ca = try SharedAuthorities.ca(type)
        let dir = try TempDirectory()
        let file = try dir.write("ca.pub", Array((ca.publicKeyLine(comment: "latchkey-ca:ghe:v1") + "\n").utf8))
        let r = try Tool.sshKeygen(["-l", "-f", file])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains(ca.fingerprint))
    }

    @Test func requestWithoutPrincipalsIsRefused() throws {
        var request = Self.request()
        request.principals = []
        #expect(throws: SSHKeyError.self) { try SSHCertificate.issue(for: DeployKey.generate(), request, by: SharedAuthorities.ca(.ed25519)) }
    }

    @Test func badRequestsAreRefusedWithTheirReason() throws {
        let ca = try SharedAuthorities.ca(.ed25519)
        let subject = try DeployKey.generate()
        func refused(_ change: (inout SSHCertificate.Request) -> Void) -> String? {
            var request = Self.request()
            change(&request)
            do {
                _ = try SSHCertificate.issue(for: subject, request, by: ca)
                return nil
            } catch let error as SSHKeyError {
                return error.code
            } catch {
                return "\(error)"
            }
        }
        #expect(refused { $0.principals = ["git", "git"] } == "ssh_certificate_request_invalid")
        #expect(refused { $0.principals = ["a,b"] } == "ssh_certificate_request_invalid")
        #expect(refused { $0.principals = ["a b"] } == "ssh_certificate_request_invalid")
        #expect(refused { $0.principals = Array(repeating: "x", count: 1).map { $0 + "\n" } } == "ssh_certificate_request_invalid")
        #expect(refused { $0.validBefore = $0.validAfter } == "ssh_certificate_request_invalid")
        #expect(refused { $0.keyID = "" } == "ssh_certificate_request_invalid")
        #expect(refused { $0.keyID = "a\nb" } == "ssh_certificate_request_invalid")
        #expect(refused { $0.extensions = [try! SSHCertificateOption(name: "permit-pty"), try! SSHCertificateOption(name: "permit-pty")] }
            == "ssh_certificate_request_invalid")
        #expect(throws: SSHKeyError.self) { try SSHCertificateOption(name: "a=b") }
        #expect(throws: SSHKeyError.self) { try SSHCertificateOption(name: "") }
        #expect(throws: SSHKeyError.self) { try SSHCertificateOption(name: "x", value: "a\u{0}b") }
        #expect(throws: SSHKeyError.self) { try SSHCertificate.issue(for: SharedKeys.key(.ecdsaP256), Self.request(), by: ca) }
        #expect(throws: SSHKeyError.self) { try CertificateAuthority(key: SharedKeys.key(.rsa4096)) }
    }

    /// Every prefix of a good certificate is refused, never a crash.
    @Test func everyTruncationOfACertificateIsRefused() throws {
        let cert = try SSHCertificate.issue(for: DeployKey.generate(), Self.request(), by: SharedAuthorities.ca(.ecdsaP256))
        for n in 0..<cert.blob.count {
            #expect(throws: SSHKeyError.self) { try SSHCertificate(blob: Array(cert.blob.prefix(n))) }
        }
        #expect(throws: SSHKeyError.self) { try SSHCertificate(blob: [UInt8](repeating: 0xff, count: SSHCertificate.maxBlobBytes + 1)) }
    }
}
