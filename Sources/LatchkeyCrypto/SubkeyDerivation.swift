internal import CSodium

/// Sub-keys derived from one master secret with libsodium's `crypto_kdf` (BLAKE2b with
/// the sub-key id and an 8-byte context as salt and personalisation).
///
/// Why this is safe: every (context, id) pair names one purpose and is used for nothing
/// else, so two purposes never share a key; the master secret never keys anything itself.
package enum SubkeyDerivation {
    package static let contextBytes = crypto_kdf_contextbytes()
    package static let masterBytes = crypto_kdf_keybytes()

    /// A 32-byte sub-key `id` of `master` in `context` (exactly 8 ASCII bytes).
    package static func derive(from master: SecretBytes, context: String, id: UInt64) throws -> SecretBytes {
        Sodium.ensureReady()
        let ctx = Array(context.utf8)
        precondition(ctx.count == contextBytes, "a crypto_kdf context is exactly 8 bytes")
        precondition(master.count == masterBytes)
        return try SecretBytes(count: 32) { out in
            let rc = master.withUnsafeBytes { m in
                ctx.withUnsafeBufferPointer { c in
                    c.baseAddress!.withMemoryRebound(to: CChar.self, capacity: ctx.count) { cp in
                        crypto_kdf_derive_from_key(
                            out.baseAddress!.assumingMemoryBound(to: UInt8.self), out.count, id, cp,
                            m.baseAddress!.assumingMemoryBound(to: UInt8.self))
                    }
                }
            }
            guard rc == 0 else { throw CryptoError.keyDerivationFailed }
        }
    }
}
