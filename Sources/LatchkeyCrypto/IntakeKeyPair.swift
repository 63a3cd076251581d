internal import CSodium

/// The daemon's X25519 intake key pair. Clients seal a token to the public key with
/// `crypto_box_seal` (an ephemeral sender key, so only the daemon can open it and
/// the plaintext never crosses the socket), the daemon opens it with the secret key.
package struct IntakeKeyPair: Sendable {
    package static let publicKeyBytes = Int(crypto_box_PUBLICKEYBYTES)
    package static let secretKeyBytes = Int(crypto_box_SECRETKEYBYTES)
    package static var sealOverheadBytes: Int { crypto_box_sealbytes() }

    package let publicKey: [UInt8]
    package let secretKey: SecretBytes

    package static func generate() throws -> IntakeKeyPair {
        Sodium.ensureReady()
        var pk = [UInt8](repeating: 0, count: publicKeyBytes)
        let sk = try SecretBytes(count: secretKeyBytes) { s in
            _ = crypto_box_keypair(&pk, s.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        return IntakeKeyPair(publicKey: pk, secretKey: sk)
    }

    /// Rebuilds the pair from a stored secret key.
    package init(secretKey: SecretBytes) {
        precondition(secretKey.count == Self.secretKeyBytes)
        var pk = [UInt8](repeating: 0, count: Self.publicKeyBytes)
        secretKey.withUnsafeBytes { s in
            _ = crypto_scalarmult_base(&pk, s.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        self.publicKey = pk
        self.secretKey = secretKey
    }

    private init(publicKey: [UInt8], secretKey: SecretBytes) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// Seals `plaintext` to `publicKey` (what the CLI does before a token leaves it).
    package static func seal(_ plaintext: SecretBytes, to publicKey: [UInt8]) -> [UInt8] {
        precondition(publicKey.count == publicKeyBytes)
        Sodium.ensureReady()
        var out = [UInt8](repeating: 0, count: plaintext.count + sealOverheadBytes)
        plaintext.withUnsafeBytes { p in
            _ = crypto_box_seal(&out, p.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(p.count), publicKey)
        }
        return out
    }

    /// Opens a sealed box into guarded memory, or throws if it was not sealed to us or
    /// was altered.
    package func open(_ sealed: [UInt8]) throws -> SecretBytes {
        guard sealed.count >= Self.sealOverheadBytes else { throw CryptoError.malformed(what: "sealed token") }
        return try SecretBytes(count: sealed.count - Self.sealOverheadBytes) { dest in
            let rc = secretKey.withUnsafeBytes { s in
                crypto_box_seal_open(
                    dest.baseAddress!.assumingMemoryBound(to: UInt8.self),  // never nil: SecretBytes allocates at least one byte
                    sealed, UInt64(sealed.count), publicKey, s.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
            guard rc == 0 else { throw CryptoError.openFailed(what: "sealed token") }
        }
    }
}
