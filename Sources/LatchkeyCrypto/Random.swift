internal import CSodium

/// Public random bytes (nonces, salts, identifiers). Secrets use `SecretBytes.random`.
public func randomBytes(_ count: Int) -> [UInt8] {
    Sodium.ensureReady()
    var out = [UInt8](repeating: 0, count: count)
    out.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, $0.count) }
    return out
}
