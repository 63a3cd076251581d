/// Envelope sealing: a fresh data key per secret version, the payload sealed under it,
/// the data key sealed under the key-encryption key of the current generation.
package struct SealedSecret: Sendable, Equatable {
    /// nonce ‖ ciphertext ‖ tag of the payload under the data key.
    package var sealedPayload: [UInt8]
    /// nonce ‖ ciphertext ‖ tag of the data key under the generation's KEK.
    package var wrappedDataKey: [UInt8]
    /// The key generation whose KEK wraps the data key.
    package var generation: Int64

    package init(sealedPayload: [UInt8], wrappedDataKey: [UInt8], generation: Int64) {
        self.sealedPayload = sealedPayload
        self.wrappedDataKey = wrappedDataKey
        self.generation = generation
    }
}

/// A key-encryption key of one generation.
package struct KeyEncryptionKey: Sendable {
    package let generation: Int64
    package let key: SecretBytes

    package init(generation: Int64, key: SecretBytes) {
        precondition(key.count == XChaCha20Poly1305.keyBytes)
        self.generation = generation
        self.key = key
    }

    package static func generate(generation: Int64) throws -> KeyEncryptionKey {
        try KeyEncryptionKey(generation: generation, key: .random(count: XChaCha20Poly1305.keyBytes))
    }

    /// Seals `payload` for `record`: a new data key, used once.
    package func seal(_ payload: SecretBytes, for record: RecordBinding) throws -> SealedSecret {
        let dataKey = try SecretBytes.random(count: XChaCha20Poly1305.keyBytes)
        let sealedPayload = payload.withUnsafeBytes {
            XChaCha20Poly1305.seal($0, key: dataKey, associatedData: record.payloadAD())
        }
        let wrapped = dataKey.withUnsafeBytes {
            XChaCha20Poly1305.seal($0, key: key, associatedData: record.dataKeyAD(generation: generation))
        }
        return SealedSecret(sealedPayload: sealedPayload, wrappedDataKey: wrapped, generation: generation)
    }

    /// Opens a sealed secret of `record`, or throws if any byte, the record or the key differ.
    package func open(_ sealed: SealedSecret, for record: RecordBinding) throws -> SecretBytes {
        guard sealed.generation == generation else {
            throw CryptoError.openFailed(what: "data key of \(record.kind) \(record.id) v\(record.version)")
        }
        let dataKey = try unwrapDataKey(sealed.wrappedDataKey, for: record)
        return try XChaCha20Poly1305.open(
            sealed.sealedPayload, key: dataKey, associatedData: record.payloadAD(),
            what: "\(record.kind) \(record.id) v\(record.version)")
    }

    /// Re-wraps a data key from `old` to this generation without touching the payload.
    package func rewrap(_ wrappedDataKey: [UInt8], from old: KeyEncryptionKey, for record: RecordBinding) throws -> [UInt8] {
        let dataKey = try old.unwrapDataKey(wrappedDataKey, for: record)
        return dataKey.withUnsafeBytes {
            XChaCha20Poly1305.seal($0, key: key, associatedData: record.dataKeyAD(generation: generation))
        }
    }

    func unwrapDataKey(_ wrapped: [UInt8], for record: RecordBinding) throws -> SecretBytes {
        try XChaCha20Poly1305.open(
            wrapped, key: key, associatedData: record.dataKeyAD(generation: generation),
            what: "data key of \(record.kind) \(record.id) v\(record.version)")
    }
}

extension RootKey {
    /// Wraps a generation's KEK under the root key (bound to its generation number).
    ///
    /// The wrap's associated data also names the store format: `latchkey/kek/v2` marks a
    /// store whose rows carry bindings (`RowBindings`). Only the root key's holder can make
    /// or change a wrap, so a store writer cannot pass a bound store off as one from before
    /// bindings (which unlock would upgrade, blessing whatever the rows then say).
    package func wrap(_ kek: KeyEncryptionKey) -> [UInt8] {
        kek.key.withUnsafeBytes {
            XChaCha20Poly1305.seal($0, key: key, associatedData: Self.kekAD(kek.generation, label: Self.boundLabel))
        }
    }

    /// Opens a wrap made by `wrap` (a store with row bindings).
    package func unwrapKEK(_ wrapped: [UInt8], generation: Int64) throws -> KeyEncryptionKey {
        let k = try XChaCha20Poly1305.open(
            wrapped, key: key, associatedData: Self.kekAD(generation, label: Self.boundLabel), what: "key generation \(generation)")
        return KeyEncryptionKey(generation: generation, key: k)
    }

    /// Opens a wrap from before row bindings (`latchkey/kek/v1`), for the one-time upgrade.
    package func unwrapUnboundKEK(_ wrapped: [UInt8], generation: Int64) throws -> KeyEncryptionKey {
        let k = try XChaCha20Poly1305.open(
            wrapped, key: key, associatedData: Self.kekAD(generation, label: Self.unboundLabel), what: "key generation \(generation)")
        return KeyEncryptionKey(generation: generation, key: k)
    }

    static let unboundLabel = "latchkey/kek/v1"
    static let boundLabel = "latchkey/kek/v2"

    static func kekAD(_ generation: Int64, label: String) -> [UInt8] {
        RecordBinding.field(label) + RecordBinding.u64(UInt64(bitPattern: generation))
    }

    /// A v1 wrap, as stores before row bindings hold them (tests of the upgrade only).
    package func wrapUnbound(_ kek: KeyEncryptionKey) -> [UInt8] {
        kek.key.withUnsafeBytes {
            XChaCha20Poly1305.seal($0, key: key, associatedData: Self.kekAD(kek.generation, label: Self.unboundLabel))
        }
    }
}
