internal import CSodium

/// XChaCha20-Poly1305 (IETF), the one AEAD Latchkey seals with.
///
/// Why random nonces are safe here: the nonce is 192 bits, so random nonces never
/// collide in practice, and every data key seals exactly one payload anyway. The tag is
/// checked by libsodium before any plaintext is produced.
package enum XChaCha20Poly1305 {
    package static let keyBytes = Int(crypto_aead_xchacha20poly1305_ietf_KEYBYTES)
    package static let nonceBytes = Int(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)
    package static let tagBytes = Int(crypto_aead_xchacha20poly1305_ietf_ABYTES)

    /// Seals `plaintext` and returns nonce ‖ ciphertext ‖ tag. `nonce` is for
    /// known-answer tests only; production code lets it be random.
    package static func seal(
        _ plaintext: UnsafeRawBufferPointer, key: SecretBytes, associatedData: [UInt8], nonce: [UInt8]? = nil
    ) -> [UInt8] {
        precondition(key.count == keyBytes)
        let n = nonce ?? randomBytes(nonceBytes)
        precondition(n.count == nonceBytes)
        var out = [UInt8](repeating: 0, count: nonceBytes + plaintext.count + tagBytes)
        out.replaceSubrange(0..<nonceBytes, with: n)
        var written: UInt64 = 0
        key.withUnsafeBytes { k in
            out.withUnsafeMutableBufferPointer { o in
                _ = crypto_aead_xchacha20poly1305_ietf_encrypt(
                    o.baseAddress! + nonceBytes, &written,
                    plaintext.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(plaintext.count),
                    associatedData, UInt64(associatedData.count), nil,
                    n, k.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        return out
    }

    /// Opens nonce ‖ ciphertext ‖ tag into guarded memory, or throws if anything differs.
    package static func open(_ sealed: [UInt8], key: SecretBytes, associatedData: [UInt8], what: String) throws
        -> SecretBytes
    {
        precondition(key.count == keyBytes)
        guard sealed.count >= nonceBytes + tagBytes else { throw CryptoError.malformed(what: what) }
        let plainCount = sealed.count - nonceBytes - tagBytes
        return try SecretBytes(count: plainCount) { dest in
            let rc = key.withUnsafeBytes { k in
                sealed.withUnsafeBufferPointer { s in
                    crypto_aead_xchacha20poly1305_ietf_decrypt(
                        dest.baseAddress?.assumingMemoryBound(to: UInt8.self), nil, nil,
                        s.baseAddress! + nonceBytes, UInt64(s.count - nonceBytes),
                        associatedData, UInt64(associatedData.count),
                        s.baseAddress!, k.baseAddress!.assumingMemoryBound(to: UInt8.self))
                }
            }
            guard rc == 0 else { throw CryptoError.openFailed(what: what) }
        }
    }
}
