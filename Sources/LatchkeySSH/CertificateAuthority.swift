/// The key types a certificate authority may have. The raw value is the name used in
/// the API and the CLI (`latchkey connection ca create NAME --type ecdsa-p256`).
package enum CertificateAuthorityType: String, Sendable, CaseIterable, Codable {
    case ed25519
    case ecdsaP256 = "ecdsa-p256"
    case rsa3072 = "rsa-3072"

    /// The deploy key type holding the CA's private key.
    package var keyType: DeployKeyType {
        switch self {
        case .ed25519: .ed25519
        case .ecdsaP256: .ecdsaP256
        case .rsa3072: .rsa3072
        }
    }

    /// The signature algorithm a certificate carries. RSA signs with `rsa-sha2-512`:
    /// OpenSSH 8.2 and later refuse `ssh-rsa` (SHA-1) CA signatures by default
    /// (`CASignatureAlgorithms`), and accept `rsa-sha2-512` and `rsa-sha2-256`.
    package var signatureAlgorithm: String {
        switch self {
        case .ed25519: "ssh-ed25519"
        case .ecdsaP256: "ecdsa-sha2-nistp256"
        case .rsa3072: "rsa-sha2-512"
        }
    }

    init(keyType: DeployKeyType) throws(SSHKeyError) {
        switch keyType {
        case .ed25519: self = .ed25519
        case .ecdsaP256: self = .ecdsaP256
        case .rsa3072: self = .rsa3072
        case .rsa4096: throw .unsupportedCertificateKey("a CA key is ed25519, ecdsa-p256 or rsa-3072, not \(keyType.rawValue)")
        }
    }
}

/// An OpenSSH certificate authority: a private key that signs user certificates
/// (PROTOCOL.certkeys). Servers trust it through its public key line —
/// `TrustedUserCAKeys` in sshd_config, GitLab self-managed's sshd, or a GitHub
/// Enterprise organisation's SSH certificate authorities.
///
/// The key is a `DeployKey` (guarded memory or an OpenSSL handle), so the store seals
/// it as the same `openssh-key-v1` PEM it seals deploy keys as.
package struct CertificateAuthority: Sendable {
    package let type: CertificateAuthorityType
    package let key: DeployKey

    /// A fresh CA key.
    package static func generate(type: CertificateAuthorityType = .ed25519) throws -> CertificateAuthority {
        try CertificateAuthority(key: DeployKey.generate(type: type.keyType))
    }

    /// A CA over an existing key (one read back from the store). RSA-4096 is refused:
    /// one RSA size keeps the set the README documents small.
    package init(key: DeployKey) throws(SSHKeyError) {
        type = try CertificateAuthorityType(keyType: key.type)
        self.key = key
    }

    /// The CA's SSH public key blob: the certificate's `signature key` field.
    package var publicKeyBlob: [UInt8] { key.publicKeyBlob }

    /// `SHA256:…`, as `ssh-keygen -lf` prints it (and `ssh-keygen -L` as "Signing CA").
    package var fingerprint: String { key.fingerprint }

    /// The public key line for `TrustedUserCAKeys` or a GitHub Enterprise organisation CA.
    package func publicKeyLine(comment: String) -> String { key.authorizedKeysLine(comment: comment) }

    /// An SSH signature blob over `data` in the CA's certificate signature algorithm.
    func sign(_ data: [UInt8]) throws -> [UInt8] {
        try key.sign(data, flags: type == .rsa3072 ? DeployKey.rsaSHA512Flag : 0)
    }
}

extension CertificateAuthority: CustomStringConvertible {
    /// Names the CA by type and fingerprint; never shows private material.
    package var description: String { "CertificateAuthority(\(type.rawValue), \(fingerprint))" }
}
