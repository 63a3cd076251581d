/// The key types Latchkey makes.
public enum DeployKeyType: String, Sendable, CaseIterable, Codable {
    case ed25519
    case ecdsaP256 = "ecdsa-p256"
    case rsa3072 = "rsa-3072"
    case rsa4096 = "rsa-4096"

    public var bits: Int {
        switch self {
        case .ed25519, .ecdsaP256: 256
        case .rsa3072: 3072
        case .rsa4096: 4096
        }
    }

    /// The key's SSH name in public blobs and authorized_keys lines.
    public var sshAlgorithm: String {
        switch self {
        case .ed25519: "ssh-ed25519"
        case .ecdsaP256: "ecdsa-sha2-nistp256"
        case .rsa3072, .rsa4096: "ssh-rsa"
        }
    }
}
