package import LatchkeyCrypto

/// A project's SSH deploy key: a private key of one `DeployKeyType`, with the
/// public forms OpenSSH prints and the signatures an ssh-agent returns.
///
/// The private half is an `Ed25519SigningKey` (guarded memory) or an OpenSSL
/// `EVP_PKEY` handle freed with the key; it leaves only as an `openssh-key-v1` PEM
/// in `SecretBytes`.
package struct DeployKey: Sendable {
    package let type: DeployKeyType
    /// The SSH wire public key (RFC 4253 §6.6 / RFC 5656 §3.1 / RFC 8709 §4).
    package let publicKeyBlob: [UInt8]
    let material: Material

    enum Material: Sendable {
        case ed25519(Ed25519SigningKey)
        case openSSL(OpenSSLKey)
    }

    /// The agent's sign-request flags (draft-miller-ssh-agent §3.6.1).
    package static let rsaSHA256Flag: UInt32 = 0x02
    package static let rsaSHA512Flag: UInt32 = 0x04

    /// A fresh key: ed25519 (the default) from libsodium, ECDSA and RSA from OpenSSL 3.
    package static func generate(type: DeployKeyType = .ed25519) throws -> DeployKey {
        switch type {
        case .ed25519: try DeployKey(type: type, material: .ed25519(Ed25519SigningKey.generate()))
        case .ecdsaP256, .rsa3072, .rsa4096: try DeployKey(type: type, material: .openSSL(OpenSSLKey.generate(type)))
        }
    }

    /// The ed25519 key for a 32-byte seed (deterministic; known-answer tests).
    package init(ed25519Seed seed: SecretBytes) throws {
        guard seed.count == Ed25519SigningKey.seedBytes else {
            throw SSHKeyError.invalidKey(reason: "an ed25519 seed is \(Ed25519SigningKey.seedBytes) bytes, not \(seed.count)")
        }
        try self.init(type: .ed25519, material: .ed25519(Ed25519SigningKey(seed: seed)))
    }

    /// Parses an unencrypted `openssh-key-v1` PEM, as written by `openSSHPrivateKey`
    /// or by `ssh-keygen -N ''`.
    package init(openSSHPrivateKey pem: SecretBytes) throws {
        let parsed = try OpenSSHPrivateKeyFormat.parse(pem: pem)
        try self.init(type: parsed.type, material: parsed.material)
        guard publicKeyBlob == parsed.publicKeyBlob else { throw SSHKeyError.publicKeyMismatch }
    }

    init(type: DeployKeyType, material: Material) throws {
        self.type = type
        self.material = material
        var w = SSHWireWriter()
        w.writeString(type.sshAlgorithm)
        switch material {
        case .ed25519(let key):
            w.writeString(key.publicKey)
        case .openSSL(let key) where type == .ecdsaP256:
            w.writeString(SSHName.nistp256.description)
            w.writeString(try key.publicPoint())
        case .openSSL(let key):
            w.writeMPInt(magnitude: try key.number(OSSLName.rsaE).publicBytes)
            w.writeMPInt(magnitude: try key.number(OSSLName.rsaN).publicBytes)
        }
        publicKeyBlob = w.bytes
    }

    /// `SHA256:<unpadded base64>`, exactly as `ssh-keygen -lf` prints it.
    package var fingerprint: String { SSHFingerprint.sha256(publicKeyBlob) }

    /// The public key as an `authorized_keys` line: `ssh-ed25519 AAAA… comment`.
    /// Control characters in the comment are replaced by `?`.
    package func authorizedKeysLine(comment: String) -> String {
        SSHPublicKey.line(algorithm: type.sshAlgorithm, blob: publicKeyBlob, comment: comment)
    }

    /// The public key with a comment.
    package func publicKey(comment: String = "") -> SSHPublicKey {
        SSHPublicKey(type: type, blob: publicKeyBlob, comment: comment)
    }

    /// The private key as an unencrypted `openssh-key-v1` PEM in guarded memory,
    /// with the final newline and base64 wrapped at 70 columns (as ssh-keygen writes it).
    package func openSSHPrivateKey(comment: String) throws -> SecretBytes {
        // The check integers only detect a wrong passphrase; random, as ssh-keygen writes them.
        try openSSHPrivateKey(comment: comment, checkInt: UInt32.random(in: .min ... .max))
    }

    /// As `openSSHPrivateKey(comment:)` with a fixed check integer (known-answer tests).
    package func openSSHPrivateKey(comment: String, checkInt: UInt32) throws -> SecretBytes {
        try OpenSSHPrivateKeyFormat.encode(self, comment: comment, checkInt: checkInt)
    }

    /// An SSH signature blob over `data`: `string(algorithm) ‖ string(signature)`.
    ///
    /// - ed25519: `ssh-ed25519`, the 64-byte Ed25519 signature (RFC 8709 §6).
    /// - ECDSA P-256: `ecdsa-sha2-nistp256` over SHA-256, `mpint r ‖ mpint s` (RFC 5656 §3.1.2).
    /// - RSA: `rsa-sha2-256` if `flags` has `rsaSHA256Flag`, else `rsa-sha2-512` if it has
    ///   `rsaSHA512Flag`, else `ssh-rsa` over SHA-1; PKCS#1 v1.5 (RFC 8332). Other flags are ignored,
    ///   as OpenSSH's agent ignores them.
    package func sign(_ data: [UInt8], flags: UInt32 = 0) throws -> [UInt8] {
        var w = SSHWireWriter()
        switch material {
        case .ed25519(let key):
            w.writeString(type.sshAlgorithm)
            w.writeString(key.sign(data))
        case .openSSL(let key) where type == .ecdsaP256:
            let der = try key.sign(data, digest: .sha256)
            let (r, s) = try ECDSASignature.integers(fromDER: der)
            var inner = SSHWireWriter()
            inner.writeMPInt(magnitude: r)
            inner.writeMPInt(magnitude: s)
            w.writeString(type.sshAlgorithm)
            w.writeString(inner.bytes)
        case .openSSL(let key):
            let (name, digest): (StaticString, OpenSSLKey.Digest) =
                if flags & Self.rsaSHA256Flag != 0 {
                    (SSHName.rsaSHA256, .sha256)
                } else if flags & Self.rsaSHA512Flag != 0 {
                    (SSHName.rsaSHA512, .sha512)
                } else {
                    (type.sshAlgorithmName, .sha1)
                }
            w.writeString(name.description)
            w.writeString(try key.sign(data, digest: digest))
        }
        return w.bytes
    }
}

extension DeployKey: CustomStringConvertible {
    /// Names the key by type and fingerprint; never shows private material.
    package var description: String { "DeployKey(\(type.rawValue), \(fingerprint))" }
}

/// ECDSA signatures: OpenSSL's DER `ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }`
/// to the integers SSH wants as mpints.
enum ECDSASignature {
    static func integers(fromDER der: [UInt8]) throws(SSHKeyError) -> (r: [UInt8], s: [UInt8]) {
        var i = 0
        func byte() throws(SSHKeyError) -> UInt8 {
            guard i < der.count else { throw .cryptoFailure(operation: "parsing OpenSSL's ECDSA signature") }
            defer { i += 1 }
            return der[i]
        }
        func length() throws(SSHKeyError) -> Int {
            let first = try byte()
            if first < 0x80 { return Int(first) }
            guard first == 0x81 else { throw .cryptoFailure(operation: "parsing OpenSSL's ECDSA signature") }
            return Int(try byte())
        }
        func integer() throws(SSHKeyError) -> [UInt8] {
            guard try byte() == 0x02 else { throw .cryptoFailure(operation: "parsing OpenSSL's ECDSA signature") }
            let n = try length()
            guard n > 0, n <= der.count - i else { throw .cryptoFailure(operation: "parsing OpenSSL's ECDSA signature") }
            defer { i += n }
            return Array(der[i..<(i + n)])
        }
        guard try byte() == 0x30, try length() == der.count - i else {
            throw .cryptoFailure(operation: "parsing OpenSSL's ECDSA signature")
        }
        let r = try integer()
        let s = try integer()
        guard i == der.count else { throw .cryptoFailure(operation: "parsing OpenSSL's ECDSA signature") }
        return (r, s)
    }
}
