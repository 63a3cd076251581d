/// The deploy key types Latchkey generates and accepts. The raw value is the name
/// used in the API, the CLI and policies.
package enum DeployKeyType: String, Sendable, CaseIterable {
    case ed25519
    case ecdsaP256 = "ecdsa-p256"
    case rsa3072 = "rsa-3072"
    case rsa4096 = "rsa-4096"

    /// Key size in bits (the curve order for ed25519 and P-256, the modulus for RSA).
    package var bits: Int {
        switch self {
        case .ed25519, .ecdsaP256: 256
        case .rsa3072: 3072
        case .rsa4096: 4096
        }
    }

    /// The key's name in SSH public key blobs and `authorized_keys` lines.
    package var sshAlgorithm: String {
        switch self {
        case .ed25519: "ssh-ed25519"
        case .ecdsaP256: "ecdsa-sha2-nistp256"
        case .rsa3072, .rsa4096: "ssh-rsa"
        }
    }

    /// `sshAlgorithm` as a static string, for writing wire data without copies.
    var sshAlgorithmName: StaticString {
        switch self {
        case .ed25519: "ssh-ed25519"
        case .ecdsaP256: "ecdsa-sha2-nistp256"
        case .rsa3072, .rsa4096: "ssh-rsa"
        }
    }

    /// The RSA type for a modulus of `bits` bits.
    static func rsa(bits: Int) throws(SSHKeyError) -> DeployKeyType {
        switch bits {
        case 3072: .rsa3072
        case 4096: .rsa4096
        default: throw .unsupportedKeySize(bits: bits)
        }
    }
}

/// SSH wire names that are not key types.
enum SSHName {
    static let nistp256: StaticString = "nistp256"
    static let rsaSHA256: StaticString = "rsa-sha2-256"
    static let rsaSHA512: StaticString = "rsa-sha2-512"
    /// An uncompressed P-256 point: 0x04 ‖ X ‖ Y.
    static let p256PointBytes = 65
    static let p256ScalarBytes = 32
}
