import Foundation
import LatchkeyCrypto
import LatchkeySSH
import Testing

/// Each key type against the real OpenSSH tools: what we print, write and sign is
/// what ssh-keygen computes, reads and verifies.
@Suite struct DeployKeyTests {
    static let comment = "latchkey:web:v1"

    @Test(arguments: DeployKeyType.allCases)
    func publicLineMatchesSshKeygenFingerprint(type: DeployKeyType) throws {
        let key = try SharedKeys.key(type)
        let line = key.authorizedKeysLine(comment: Self.comment)
        let result = try Tool.sshKeygen(["-lf", "-"], stdin: Array((line + "\n").utf8))
        #expect(result.status == 0, "\(result.stderr)")
        let fields = result.stdout.split(separator: " ")
        #expect(fields.count >= 3)
        #expect(fields.first.map(String.init) == String(type.bits))
        #expect(fields.dropFirst().first.map(String.init) == key.fingerprint)
        #expect(key.fingerprint.hasPrefix("SHA256:") && !key.fingerprint.hasSuffix("="))
        #expect(line.hasPrefix(type.sshAlgorithm + " AAAA") && line.hasSuffix(" " + Self.comment))
    }

    @Test(arguments: DeployKeyType.allCases)
    func sshKeygenDerivesOurPublicLineFromOurPrivateKey(type: DeployKeyType) throws {
        let key = try SharedKeys.key(type)
        let dir = try TempDirectory()
        let path = try dir.writePrivate("id", key.openSSHPrivateKey(comment: Self.comment))
        let result = try Tool.sshKeygen(["-y", "-f", path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(typeAndBlob(result.stdout) == typeAndBlob(key.authorizedKeysLine(comment: Self.comment)))
        // ssh-keygen also reads the comment we stored in the private section.
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines).hasSuffix(Self.comment))
    }

    @Test(arguments: DeployKeyType.allCases)
    func privateKeyPEMIsShapedAsSshKeygenWritesIt(type: DeployKeyType) throws {
        let pem = try SharedKeys.key(type).openSSHPrivateKey(comment: Self.comment)
        let text = pem.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.removeFirst() == "-----BEGIN OPENSSH PRIVATE KEY-----")
        #expect(lines.removeLast() == "", "the PEM ends in a newline")
        #expect(lines.removeLast() == "-----END OPENSSH PRIVATE KEY-----")
        #expect(lines.dropLast().allSatisfy { $0.count == 70 })
        #expect((1...70).contains(lines.last?.count ?? 0))
    }

    @Test(arguments: DeployKeyType.allCases)
    func privateKeyRoundTripsThroughOurParser(type: DeployKeyType) throws {
        let key = try SharedKeys.key(type)
        let parsed = try DeployKey(openSSHPrivateKey: try key.openSSHPrivateKey(comment: Self.comment))
        #expect(parsed.type == type)
        #expect(parsed.publicKeyBlob == key.publicKeyBlob)
        #expect(parsed.fingerprint == key.fingerprint)
    }

    /// A signature we make, wrapped as an SSHSIG file, verifies with `ssh-keygen -Y check-novalidate`.
    @Test(arguments: [
        (DeployKeyType.ed25519, UInt32(0)), (.ecdsaP256, 0), (.rsa3072, DeployKey.rsaSHA256Flag), (.rsa3072, DeployKey.rsaSHA512Flag),
        (.rsa4096, DeployKey.rsaSHA512Flag),
    ])
    func signatureVerifiesWithSshKeygen(type: DeployKeyType, flags: UInt32) throws {
        try expectSshKeygenVerifies(SharedKeys.key(type), flags: flags)
    }

    /// `ssh-rsa` (SHA-1) signatures, which SSHSIG refuses, checked by `openssl dgst -sha1 -verify`
    /// against the public key exported by `ssh-keygen -e -m PKCS8`; the SHA-2 variants too.
    @Test(arguments: [(UInt32(0), "-sha1", "ssh-rsa"), (2, "-sha256", "rsa-sha2-256"), (4, "-sha512", "rsa-sha2-512")])
    func rsaSignatureVerifiesWithOpenSSL(flags: UInt32, digest: String, algorithm: String) throws {
        let key = try SharedKeys.key(.rsa3072)
        let dir = try TempDirectory()
        let message = Array("deploy key proof \(algorithm)".utf8)
        let blob = try key.sign(message, flags: flags)
        var reader = SSHWireReader(blob)
        #expect(reader.readUTF8String() == algorithm)
        let rawField = reader.readString()
        let raw = try #require(rawField)
        #expect(reader.isAtEnd)
        #expect(raw.count == 3072 / 8)
        let pub = try dir.write("id.pub", Array((key.authorizedKeysLine(comment: "") + "\n").utf8))
        let pkcs8 = try Tool.sshKeygen(["-e", "-m", "PKCS8", "-f", pub])
        #expect(pkcs8.status == 0, "\(pkcs8.stderr)")
        let pem = try dir.write("pub.pem", pkcs8.output)
        let sig = try dir.write("sig", raw)
        let data = try dir.write("data", message)
        let verify = try Tool.run("/usr/bin/openssl", ["dgst", digest, "-verify", pem, "-signature", sig, data])
        #expect(verify.status == 0 && verify.stdout.contains("Verified OK"), "\(verify.stdout) \(verify.stderr)")
    }

    @Test func rsaSignatureAlgorithmFollowsAgentFlags() throws {
        let key = try SharedKeys.key(.rsa3072)
        func algorithm(_ flags: UInt32) throws -> String? {
            var r = SSHWireReader(try key.sign([1, 2, 3], flags: flags))
            return r.readUTF8String()
        }
        #expect(try algorithm(0) == "ssh-rsa")
        #expect(try algorithm(2) == "rsa-sha2-256")
        #expect(try algorithm(4) == "rsa-sha2-512")
        #expect(try algorithm(6) == "rsa-sha2-256")  // as OpenSSH's agent: SHA-256 wins
        #expect(try algorithm(1) == "ssh-rsa")
    }

    @Test func ecdsaSignatureIsTwoMPInts() throws {
        let blob = try SharedKeys.key(.ecdsaP256).sign(Array("x".utf8))
        var r = SSHWireReader(blob)
        #expect(r.readUTF8String() == "ecdsa-sha2-nistp256")
        let innerField = r.readString()
        var inner = SSHWireReader(try #require(innerField))
        #expect(r.isAtEnd)
        let (rr, ss) = (inner.readMPInt(), inner.readMPInt())
        #expect(inner.isAtEnd)
        #expect((1...32).contains(rr?.count ?? 0) && (1...32).contains(ss?.count ?? 0))
    }

    /// Keys made by `ssh-keygen -N ''` parse; our public blob is `ssh-keygen -y`'s, our
    /// fingerprint is `ssh-keygen -lf`'s, and the parsed key signs verifiably (for RSA
    /// this proves the CRT values we rebuild are right).
    @Test(arguments: [
        (DeployKeyType.ed25519, ["-t", "ed25519"]), (.ecdsaP256, ["-t", "ecdsa", "-b", "256"]), (.rsa3072, ["-t", "rsa", "-b", "3072"]),
    ])
    func parsesKeysMadeBySshKeygen(type: DeployKeyType, options: [String]) throws {
        let dir = try TempDirectory()
        let path = dir.file("id")
        let made = try Tool.sshKeygen(["-q"] + options + ["-N", "", "-C", "made by ssh-keygen", "-f", path])
        #expect(made.status == 0, "\(made.stderr)")
        let key = try DeployKey(openSSHPrivateKey: dir.readSecret(path))
        #expect(key.type == type)
        let derived = try Tool.sshKeygen(["-y", "-f", path])
        #expect(typeAndBlob(derived.stdout) == typeAndBlob(key.authorizedKeysLine(comment: "")))
        let listed = try Tool.sshKeygen(["-lf", path])
        #expect(listed.stdout.split(separator: " ").dropFirst().first.map(String.init) == key.fingerprint)
        try expectSshKeygenVerifies(key, flags: DeployKey.rsaSHA512Flag)
    }

    @Test func authorizedKeysLineNeutralisesLineBreaksInComments() throws {
        let key = try SharedKeys.key(.ed25519)
        let line = key.authorizedKeysLine(comment: "web\nssh-ed25519 AAAA injected")
        #expect(!line.contains("\n"))
        #expect(key.authorizedKeysLine(comment: "").split(separator: " ").count == 2)
        let parsed = try SSHPublicKey(authorizedKeysLine: line)
        #expect(parsed.blob == key.publicKeyBlob && parsed.comment == "web?ssh-ed25519 AAAA injected")
    }

    /// Keys pasted through other systems often gain CRLF line ends or lose the final
    /// newline; both still parse (anything after the footer does not: see bad- vectors).
    @Test func pemWithCRLFOrWithoutFinalNewlineParses() throws {
        let key = try SharedKeys.key(.ecdsaP256)
        let pem = try key.openSSHPrivateKey(comment: "c")
        var crlf = pem.withUnsafeBytes { raw in raw.flatMap { $0 == 0x0a ? [0x0d, 0x0a] : [$0] } }
        #expect(try DeployKey(openSSHPrivateKey: SecretBytes(consuming: &crlf)).publicKeyBlob == key.publicKeyBlob)
        var noFinalNewline = pem.withUnsafeBytes { Array($0.dropLast()) }
        #expect(try DeployKey(openSSHPrivateKey: SecretBytes(consuming: &noFinalNewline)).publicKeyBlob == key.publicKeyBlob)
    }

    /// One OpenSSL key signs from many tasks at once (the agent serves builds in
    /// parallel); PKCS#1 v1.5 is deterministic, so every signature is the same.
    @Test func oneKeySignsConcurrently() async throws {
        let key = try SharedKeys.key(.rsa3072)
        let data = Array("concurrent".utf8)
        let expected = try key.sign(data, flags: DeployKey.rsaSHA256Flag)
        let signatures = try await withThrowingTaskGroup(of: [UInt8].self) { group in
            for _ in 0..<16 { group.addTask { try key.sign(data, flags: DeployKey.rsaSHA256Flag) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(signatures.count == 16 && signatures.allSatisfy { $0 == expected })
    }

    @Test func generatedKeysAreFreshAndEd25519ByDefault() throws {
        let a = try DeployKey.generate()
        #expect(a.type == .ed25519)
        let b = try DeployKey.generate(type: .ed25519)
        #expect(a.publicKeyBlob != b.publicKeyBlob)
        let c = try DeployKey.generate(type: .ecdsaP256)
        #expect(c.publicKeyBlob != (try SharedKeys.key(.ecdsaP256)).publicKeyBlob)
    }

    @Test func descriptionsNeverShowPrivateMaterial() throws {
        for type in DeployKeyType.allCases {
            let key = try SharedKeys.key(type)
            let pem = try key.openSSHPrivateKey(comment: "c")
            #expect("\(pem)".contains("redacted"))
            #expect("\(key)" == "DeployKey(\(type.rawValue), \(key.fingerprint))")
        }
    }

    func expectSshKeygenVerifies(_ key: DeployKey, flags: UInt32, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let dir = try TempDirectory()
        let message = Array("build 1234 of web at \(key.type.rawValue)".utf8)
        let signature = try dir.write("msg.sig", Array(sshsig(key, message: message, namespace: "file", flags: flags).utf8))
        let check = try Tool.sshKeygen(["-Y", "check-novalidate", "-n", "file", "-s", signature], stdin: message)
        #expect(check.status == 0, "\(check.stdout) \(check.stderr)", sourceLocation: sourceLocation)
        #expect(check.stdout.contains("Good"), sourceLocation: sourceLocation)
        // A different message must not verify.
        let bad = try Tool.sshKeygen(["-Y", "check-novalidate", "-n", "file", "-s", signature], stdin: message + [0])
        #expect(bad.status != 0, sourceLocation: sourceLocation)
    }
}
