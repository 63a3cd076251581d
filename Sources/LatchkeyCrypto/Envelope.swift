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
    /// What a store's rows carry, as its key generation's wrap names it. Only the root
    /// key's holder can make or change a wrap, so a store writer cannot pass a store off
    /// as an older format (which unlock would upgrade, blessing whatever the rows then say).
    package enum StoreFormat: Int, Sendable, CaseIterable, Comparable {
        /// `latchkey/kek/v1`: from before row bindings.
        case unbound = 1
        /// `latchkey/kek/v2`: row bindings (`RowBindings`), the SCM columns not yet bound.
        case rowBindings = 2
        /// `latchkey/kek/v3`: row bindings and the SCM columns' (CA file, deploy-key install
        /// settings and state).
        case scmBindings = 3

        /// What `wrap` writes.
        package static let current = StoreFormat.scmBindings

        var label: String { "latchkey/kek/v\(rawValue)" }

        package static func < (a: StoreFormat, b: StoreFormat) -> Bool { a.rawValue < b.rawValue }
    }

    /// Wraps a generation's KEK under the root key (bound to its generation number and the
    /// current store format).
    package func wrap(_ kek: KeyEncryptionKey) -> [UInt8] { wrap(kek, format: .current) }

    /// A wrap naming `format`: the current one, or an older one (tests of the upgrades).
    package func wrap(_ kek: KeyEncryptionKey, format: StoreFormat) -> [UInt8] {
        kek.key.withUnsafeBytes {
            XChaCha20Poly1305.seal($0, key: key, associatedData: Self.kekAD(kek.generation, label: format.label))
        }
    }

    /// Opens a wrap of the current format.
    package func unwrapKEK(_ wrapped: [UInt8], generation: Int64) throws -> KeyEncryptionKey {
        try unwrapKEK(wrapped, generation: generation, format: .current)
    }

    /// Opens a wrap of one format.
    package func unwrapKEK(_ wrapped: [UInt8], generation: Int64, format: StoreFormat) throws -> KeyEncryptionKey {
        let k = try XChaCha20Poly1305.open(
            wrapped, key: key, associatedData: Self.kekAD(generation, label: format.label), what: "key generation \(generation)")
        return KeyEncryptionKey(generation: generation, key: k)
    }

    /// Opens a wrap of any known format, newest first, and says which it was.
    package func unwrapAnyKEK(_ wrapped: [UInt8], generation: Int64) throws -> (KeyEncryptionKey, StoreFormat) {
        for format in StoreFormat.allCases.reversed() {
            if let k = try? unwrapKEK(wrapped, generation: generation, format: format) { return (k, format) }
        }
        throw CryptoError.openFailed(what: "key generation \(generation)")
    }

    /// Opens a wrap from before row bindings (`latchkey/kek/v1`).
    package func unwrapUnboundKEK(_ wrapped: [UInt8], generation: Int64) throws -> KeyEncryptionKey {
        try unwrapKEK(wrapped, generation: generation, format: .unbound)
    }

    static func kekAD(_ generation: Int64, label: String) -> [UInt8] {
        RecordBinding.field(label) + RecordBinding.u64(UInt64(bitPattern: generation))
    }

    /// A v1 wrap, as stores before row bindings hold them (tests of the upgrade only).
    package func wrapUnbound(_ kek: KeyEncryptionKey) -> [UInt8] { wrap(kek, format: .unbound) }
}
