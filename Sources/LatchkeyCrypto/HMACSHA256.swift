internal import CSodium

/// HMAC-SHA-256 (RFC 2104; libsodium's `crypto_auth_hmacsha256` with a key of any
/// length), the MAC GitHub Enterprise and Bitbucket sign webhook deliveries with.
/// The key is a `SecretBytes`; the state is wiped after use.
package enum HMACSHA256 {
    package static let outputBytes = 32

    package static func mac(key: SecretBytes, message: UnsafeRawBufferPointer) -> [UInt8] {
        Sodium.ensureReady()
        let stateBytes = crypto_auth_hmacsha256_statebytes()
        let raw = UnsafeMutableRawPointer.allocate(byteCount: stateBytes, alignment: 64)
        defer {
            sodium_memzero(raw, stateBytes)
            raw.deallocate()
        }
        let state = raw.assumingMemoryBound(to: crypto_auth_hmacsha256_state.self)
        var out = [UInt8](repeating: 0, count: outputBytes)
        var empty: UInt8 = 0
        key.withUnsafeBytes { k in
            if let base = k.baseAddress, k.count > 0 {
                _ = crypto_auth_hmacsha256_init(state, base.assumingMemoryBound(to: UInt8.self), k.count)
            } else {
                _ = crypto_auth_hmacsha256_init(state, &empty, 0)
            }
        }
        if let base = message.baseAddress, message.count > 0 {
            _ = crypto_auth_hmacsha256_update(state, base.assumingMemoryBound(to: UInt8.self), UInt64(message.count))
        }
        _ = crypto_auth_hmacsha256_final(state, &out)
        return out
    }

    package static func mac(key: SecretBytes, message: [UInt8]) -> [UInt8] {
        message.withUnsafeBytes { mac(key: key, message: $0) }
    }
}
