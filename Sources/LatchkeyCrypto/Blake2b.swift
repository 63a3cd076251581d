internal import CSodium

/// BLAKE2b (`crypto_generichash`): the audit chain's row hash, the key check value
/// and keyed fingerprints. Unkeyed it is a plain hash; keyed it is a MAC.
package struct Blake2b: ~Copyable {
    package static let outputBytes256 = 32
    // The state struct is 64-byte aligned in C and does not import: allocate it raw.
    private let raw: UnsafeMutableRawPointer
    private var state: OpaquePointer { OpaquePointer(raw) }
    private let outputCount: Int

    package init(outputCount: Int = Blake2b.outputBytes256, key: SecretBytes? = nil) {
        Sodium.ensureReady()
        self.outputCount = outputCount
        raw = .allocate(byteCount: crypto_generichash_statebytes(), alignment: 64)
        if let key {
            key.withUnsafeBytes { k in
                _ = crypto_generichash_init(state, k.baseAddress!.assumingMemoryBound(to: UInt8.self), k.count, outputCount)
            }
        } else {
            _ = crypto_generichash_init(state, nil, 0, outputCount)
        }
    }

    deinit {
        sodium_memzero(raw, crypto_generichash_statebytes())
        raw.deallocate()
    }

    package mutating func update(_ bytes: UnsafeRawBufferPointer) {
        _ = crypto_generichash_update(state, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(bytes.count))
    }

    package mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    package consuming func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: outputCount)
        _ = crypto_generichash_final(state, &out, outputCount)
        return out
    }

    /// One-shot unkeyed hash of `bytes` into `out` (its count is the output length), with
    /// no state to allocate: for hashing many short messages in a loop.
    package static func hash(_ bytes: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) {
        Sodium.ensureReady()
        _ = crypto_generichash(
            out.baseAddress!.assumingMemoryBound(to: UInt8.self), out.count, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self),
            UInt64(bytes.count), nil, 0)
    }

    /// One-shot hash of `bytes`.
    package static func hash(_ bytes: [UInt8], outputCount: Int = outputBytes256, key: SecretBytes? = nil) -> [UInt8] {
        var h = Blake2b(outputCount: outputCount, key: key)
        h.update(bytes)
        return h.finalize()
    }
}

/// Compares two public byte strings in constant time (MACs, hashes, check values).
package func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    if a.isEmpty { return true }
    return sodium_memcmp(a, b, a.count) == 0
}
