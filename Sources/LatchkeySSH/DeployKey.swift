internal import CSodium
public import LatchkeyCrypto

/// An SSH key pair Latchkey generated or parsed. The private half is in guarded memory
/// (ed25519) or inside an OpenSSL key freed with this value (ECDSA, RSA).
public struct DeployKey: Sendable {
    enum Material: Sendable {
        case ed25519(Ed25519SigningKey)
        case ecdsa(OpenSSLKey)
        case rsa(OpenSSLKey)
    }

    public let type: DeployKeyType
    let material: Material
    public let publicKeyBlob: [UInt8]

    init(type: DeployKeyType, material: Material) throws(SSHKeyError) {
        self.type = type
        self.material = material
        var w = SSHWireWriter()
        w.string(type.sshAlgorithm)
        switch material {
        case .ed25519(let k):
            w.string(k.publicKey)
        case .ecdsa(let k):
            w.string("nistp256")
            w.string(try k.octets("pub"))
        case .rsa(let k):
            w.mpint(try k.number("e"))
            w.mpint(try k.number("n"))
        }
        publicKeyBlob = w.bytes
    }

    public static func generate(type: DeployKeyType) throws -> DeployKey {
        switch type {
        case .ed25519: try DeployKey(type: type, material: .ed25519(try Ed25519SigningKey.generate()))
        case .ecdsaP256: try DeployKey(type: type, material: .ecdsa(try OpenSSLKey.generate(algorithm: "EC")))
        case .rsa3072, .rsa4096: try DeployKey(type: type, material: .rsa(try OpenSSLKey.generate(algorithm: "RSA", bits: type.bits)))
        }
    }

    /// An ed25519 key from a fixed seed (known-answer tests).
    package static func ed25519(seed: SecretBytes) throws -> DeployKey {
        try DeployKey(type: .ed25519, material: .ed25519(try Ed25519SigningKey(seed: seed)))
    }

    /// `SHA256:` and the unpadded base64 of the blob's SHA-256, as `ssh-keygen -lf` prints.
    public var fingerprint: String { "SHA256:" + Base64.unpadded(Digest.sha256(publicKeyBlob)) }

    /// `<algorithm> <base64 blob> <comment>`.
    public func authorizedKeysLine(comment: String) -> String {
        "\(type.sshAlgorithm) \(String(decoding: Base64.encode(publicKeyBlob), as: UTF8.self)) \(comment)"
    }
}
