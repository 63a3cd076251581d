internal import CSodium

/// Public random bytes (nonces, salts, identifiers). Secrets use `SecretBytes.random`.
package func randomBytes(_ count: Int) -> [UInt8] {
    Sodium.ensureReady()
    var out = [UInt8](repeating: 0, count: count)
    out.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, $0.count) }
    return out
}

/// A bearer token: `prefix`, then `count` random bytes in unpadded base64url (RFC 4648 §5).
package func randomToken(prefix: String, bytes count: Int) -> [UInt8] {
    Sodium.ensureReady()
    var raw = [UInt8](repeating: 0, count: count)
    defer { sodium_memzero(&raw, raw.count) }
    raw.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, $0.count) }
    let variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING
    let capacity = sodium_base64_encoded_len(count, variant)  // includes the NUL
    var text = [CChar](repeating: 0, count: capacity)
    _ = sodium_bin2base64(&text, capacity, raw, raw.count, variant)
    defer { sodium_memzero(&text, text.count) }
    return Array(prefix.utf8) + text.prefix(capacity - 1).map { UInt8(bitPattern: $0) }
}
