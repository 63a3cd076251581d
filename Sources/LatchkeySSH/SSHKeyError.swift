/// Failures of key handling. Messages never contain key bytes.
public enum SSHKeyError: Error, Sendable, Equatable, CustomStringConvertible {
    case truncated(String)
    case notOpenSSHKey(String)
    case encrypted
    case unsupportedKeyType(String)
    case checkMismatch
    case badPadding
    case trailingData(String)
    case inconsistent(String)
    case openSSL(String)
    case frameTooLarge(Int)

    public var code: String {
        switch self {
        case .truncated: "key_truncated"
        case .notOpenSSHKey: "key_not_openssh"
        case .encrypted: "key_encrypted"
        case .unsupportedKeyType: "key_type_unsupported"
        case .checkMismatch: "key_check_mismatch"
        case .badPadding: "key_bad_padding"
        case .trailingData: "key_trailing_data"
        case .inconsistent: "key_inconsistent"
        case .openSSL: "key_openssl"
        case .frameTooLarge: "agent_frame_too_large"
        }
    }

    public var description: String {
        switch self {
        case .truncated(let w): "the key data ends too early (\(w))"
        case .notOpenSSHKey(let w): "not an OpenSSH private key: \(w)"
        case .encrypted: "the private key is encrypted; Latchkey handles unencrypted keys only"
        case .unsupportedKeyType(let t): "unsupported key type '\(t.prefix(40))'"
        case .checkMismatch: "the private key's check integers differ (damaged or wrong key)"
        case .badPadding: "the private key's padding is not 1, 2, 3, …"
        case .trailingData(let w): "unexpected bytes after \(w)"
        case .inconsistent(let w): "the key is inconsistent: \(w)"
        case .openSSL(let w): "OpenSSL failed: \(w)"
        case .frameTooLarge(let n): "agent message of \(n) bytes exceeds the limit"
        }
    }
}
