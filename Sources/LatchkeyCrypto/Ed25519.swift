internal import CSodium

/// An Ed25519 signing key (audit checkpoints, ed25519 deploy keys, the session agent).
/// The 64-byte libsodium secret key (seed ‖ public key) lives in guarded memory.
package struct Ed25519SigningKey: Sendable {
    package static let seedBytes = Int(crypto_sign_SEEDBYTES)
    package static let publicKeyBytes = Int(crypto_sign_PUBLICKEYBYTES)
    package static let secretKeyBytes = Int(crypto_sign_SECRETKEYBYTES)
    package static let signatureBytes = Int(crypto_sign_BYTES)

    package let secretKey: SecretBytes
    package let publicKey: [UInt8]

    /// A fresh random key.
    package static func generate() throws -> Ed25519SigningKey {
        try Ed25519SigningKey(seed: SecretBytes.random(count: seedBytes))
    }

    /// The key for a 32-byte seed (deterministic: used for known-answer tests and to
    /// store only the seed).
    package init(seed: SecretBytes) throws {
        precondition(seed.count == Self.seedBytes)
        Sodium.ensureReady()
        var pk = [UInt8](repeating: 0, count: Self.publicKeyBytes)
        secretKey = try SecretBytes(count: Self.secretKeyBytes) { sk in
            seed.withUnsafeBytes { s in
                _ = crypto_sign_seed_keypair(
                    &pk, sk.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    s.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        publicKey = pk
    }

    /// The 32-byte seed, in guarded memory.
    package func seed() throws -> SecretBytes { try secretKey.slice(0..<Self.seedBytes) }

    package func sign(_ message: UnsafeRawBufferPointer) -> [UInt8] {
        var sig = [UInt8](repeating: 0, count: Self.signatureBytes)
        secretKey.withUnsafeBytes { sk in
            _ = crypto_sign_detached(
                &sig, nil, message.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(message.count),
                sk.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        return sig
    }

    package func sign(_ message: [UInt8]) -> [UInt8] { message.withUnsafeBytes { sign($0) } }
}

/// Verifies an Ed25519 signature with only the public key.
package func ed25519Verify(signature: [UInt8], message: [UInt8], publicKey: [UInt8]) -> Bool {
    Sodium.ensureReady()
    guard signature.count == Ed25519SigningKey.signatureBytes, publicKey.count == Ed25519SigningKey.publicKeyBytes
    else { return false }
    return crypto_sign_verify_detached(signature, message, UInt64(message.count), publicKey) == 0
}
