internal import CSodium
import Foundation

/// The root of trust: 32 bytes from a key file or derived from a passphrase with
/// Argon2id. It wraps the key-encryption keys of every generation and nothing else.
package struct RootKey: Sendable {
    package static let keyBytes = 32
    package let key: SecretBytes

    package init(key: SecretBytes) {
        precondition(key.count == Self.keyBytes)
        self.key = key
    }

    /// The check value stored in the store's metadata: a keyed BLAKE2b of a fixed label.
    /// It tells a wrong key at start-up without revealing anything about the key.
    package var checkValue: [UInt8] {
        Blake2b.hash(Array("latchkey root key check v1".utf8), key: key)
    }

    package func matches(checkValue expected: [UInt8]) -> Bool {
        constantTimeEquals(checkValue, expected)
    }
}

/// Argon2id limits, kept in the store's metadata next to the salt.
package struct PassphraseLimits: Sendable, Equatable, Codable {
    package var opsLimit: UInt64
    package var memLimit: Int

    package init(opsLimit: UInt64, memLimit: Int) {
        self.opsLimit = opsLimit
        self.memLimit = memLimit
    }

    /// libsodium's "moderate" profile: the default for stores made by `init`.
    package static let moderate = PassphraseLimits(
        opsLimit: UInt64(crypto_pwhash_OPSLIMIT_MODERATE), memLimit: Int(crypto_pwhash_MEMLIMIT_MODERATE))
    /// libsodium's "interactive" profile: for tests and small machines.
    package static let interactive = PassphraseLimits(
        opsLimit: UInt64(crypto_pwhash_OPSLIMIT_INTERACTIVE), memLimit: Int(crypto_pwhash_MEMLIMIT_INTERACTIVE))

    package static let saltBytes = Int(crypto_pwhash_SALTBYTES)

    /// Refuses limits below libsodium's minimum (a hostile store could set them to zero).
    package var isAcceptable: Bool {
        opsLimit >= UInt64(crypto_pwhash_OPSLIMIT_INTERACTIVE) && memLimit >= Int(crypto_pwhash_MEMLIMIT_MIN)
            && opsLimit <= UInt64(crypto_pwhash_OPSLIMIT_MAX) && memLimit <= 4 << 30
    }
}

extension RootKey {
    /// Derives the root key from a passphrase with Argon2id (`crypto_pwhash`).
    package static func derive(passphrase: SecretBytes, salt: [UInt8], limits: PassphraseLimits) throws -> RootKey {
        Sodium.ensureReady()
        precondition(salt.count == PassphraseLimits.saltBytes)
        let key = try SecretBytes(count: keyBytes) { out in
            let rc = passphrase.withUnsafeBytes { p in
                crypto_pwhash(
                    out.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(keyBytes),
                    p.baseAddress!.assumingMemoryBound(to: CChar.self), UInt64(p.count),
                    salt, limits.opsLimit, limits.memLimit, crypto_pwhash_ALG_ARGON2ID13)
            }
            guard rc == 0 else { throw CryptoError.keyDerivationFailed }
        }
        return RootKey(key: key)
    }

    /// A fresh random root key (what `init` writes to a new key file).
    package static func generate() throws -> RootKey {
        try RootKey(key: SecretBytes.random(count: keyBytes))
    }
}
