/// Every refusal and fault of the SSH layer, listed once. Each case has a stable
/// `code` (API answers, audit rows). Messages name what was wrong and where, never
/// key bytes; names taken from input are shown only as short printable ASCII.
package enum SSHKeyError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The private key input was empty.
    case empty
    /// The private key input is larger than any supported key file.
    case tooLarge(bytes: Int, limit: Int)
    /// The input is not an `-----BEGIN OPENSSH PRIVATE KEY-----` PEM.
    case notOpenSSHPEM
    /// The PEM body is not valid base64.
    case badBase64
    /// The decoded key does not start with `openssh-key-v1\0`.
    case badMagic
    /// A field ran past the end of its buffer.
    case truncated(what: String)
    /// The key is encrypted (cipher or KDF other than "none"); Latchkey takes unencrypted keys.
    case encrypted(cipher: String)
    /// The file holds a number of keys other than one.
    case keyCount(Int)
    /// The two check integers of the private section differ (corrupt or wrongly decrypted).
    case checkIntMismatch
    /// The private section's padding is not 1, 2, 3, … up to a multiple of 8.
    case badPadding
    /// Bytes follow the end of the key (after the PEM footer or inside the blob).
    case trailingData(where: String)
    /// The key type is not one Latchkey handles.
    case unknownKeyType(String)
    /// An RSA key whose modulus size is not 3072 or 4096 bits.
    case unsupportedKeySize(bits: Int)
    /// Key components are inconsistent or out of range.
    case invalidKey(reason: String)
    /// The public key stored beside the private section is not the private key's.
    case publicKeyMismatch
    /// An authorized_keys line or public key blob is malformed.
    case malformedPublicKey(reason: String)
    /// OpenSSL or libsodium failed an operation (internal fault, not the input's).
    case cryptoFailure(operation: String)
    /// An agent frame announced more than the limit; the connection must be dropped.
    case agentFrameTooLarge(length: Int, limit: Int)
    /// An agent message is malformed.
    case agentMessageMalformed(reason: String)
    /// A certificate blob or line is malformed (PROTOCOL.certkeys).
    case malformedCertificate(reason: String)
    /// The fields asked of a certificate cannot be issued (empty principals, bad validity, …).
    case invalidCertificateRequest(reason: String)
    /// A key of this type cannot act as a certificate authority or certificate subject.
    case unsupportedCertificateKey(String)

    package var code: String {
        switch self {
        case .empty: "ssh_key_empty"
        case .tooLarge: "ssh_key_too_large"
        case .notOpenSSHPEM: "ssh_key_not_pem"
        case .badBase64: "ssh_key_bad_base64"
        case .badMagic: "ssh_key_bad_magic"
        case .truncated: "ssh_key_truncated"
        case .encrypted: "ssh_key_encrypted"
        case .keyCount: "ssh_key_count"
        case .checkIntMismatch: "ssh_key_check_mismatch"
        case .badPadding: "ssh_key_bad_padding"
        case .trailingData: "ssh_key_trailing_data"
        case .unknownKeyType: "ssh_key_unknown_type"
        case .unsupportedKeySize: "ssh_key_unsupported_size"
        case .invalidKey: "ssh_key_invalid"
        case .publicKeyMismatch: "ssh_key_public_mismatch"
        case .malformedPublicKey: "ssh_public_key_malformed"
        case .cryptoFailure: "ssh_crypto_failure"
        case .agentFrameTooLarge: "ssh_agent_frame_too_large"
        case .agentMessageMalformed: "ssh_agent_malformed"
        case .malformedCertificate: "ssh_certificate_malformed"
        case .invalidCertificateRequest: "ssh_certificate_request_invalid"
        case .unsupportedCertificateKey: "ssh_certificate_key_unsupported"
        }
    }

    package var description: String {
        switch self {
        case .empty: "the private key is empty"
        case .tooLarge(let bytes, let limit): "the private key input is \(bytes) bytes; key files are at most \(limit) bytes"
        case .notOpenSSHPEM:
            "not an OpenSSH private key: expected '-----BEGIN OPENSSH PRIVATE KEY-----' … '-----END OPENSSH PRIVATE KEY-----'"
        case .badBase64: "the private key's PEM body is not valid base64"
        case .badMagic: "the private key does not start with 'openssh-key-v1'"
        case .truncated(let what): "the key is truncated: \(what) runs past the end"
        case .encrypted(let cipher):
            "the private key is encrypted (cipher \(cipher)); remove the passphrase with 'ssh-keygen -p -N \"\"' first"
        case .keyCount(let n): "the key file holds \(n) keys; exactly one is supported"
        case .checkIntMismatch: "the private section's check integers differ (corrupt key)"
        case .badPadding: "the private section's padding is not 1, 2, 3, … (corrupt key)"
        case .trailingData(let place): "unexpected bytes after the key (\(place))"
        case .unknownKeyType(let name):
            "unsupported key type '\(name)'; supported: ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa (3072 or 4096 bits)"
        case .unsupportedKeySize(let bits): "RSA keys of \(bits) bits are not supported; use 3072 or 4096"
        case .invalidKey(let reason): "the key is invalid: \(reason)"
        case .publicKeyMismatch: "the public key in the file does not belong to its private key"
        case .malformedPublicKey(let reason): "malformed public key: \(reason)"
        case .cryptoFailure(let op): "cryptographic operation failed: \(op)"
        case .agentFrameTooLarge(let length, let limit):
            "agent message of \(length) bytes exceeds the limit of \(limit) bytes"
        case .agentMessageMalformed(let reason): "malformed agent message: \(reason)"
        case .malformedCertificate(let reason): "malformed OpenSSH certificate: \(reason)"
        case .invalidCertificateRequest(let reason): "cannot issue the certificate: \(reason)"
        case .unsupportedCertificateKey(let what): "unsupported certificate key: \(what)"
        }
    }

    /// A name from input, fit for a message: printable ASCII only, at most 64 characters.
    static func printable(_ bytes: some Collection<UInt8>) -> String {
        let limit = 64
        var out = String(decoding: bytes.prefix(limit).map { (0x20...0x7e).contains($0) ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
        if bytes.count > limit { out += "…" }
        return out
    }
}
