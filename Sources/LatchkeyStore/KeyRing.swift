package import LatchkeyCrypto
import Foundation
import Synchronization

/// How the root key is supplied.
package enum RootKeySource: Sendable {
    case keyFile(path: String)
    case passphrase(SecretBytes)

    var kind: String {
        switch self {
        case .keyFile: "key-file"
        case .passphrase: "passphrase"
        }
    }
}

/// The unlocked keys of a store: the active key-encryption key and the daemon's
/// sub-keys. Built only after the root key's check value matched.
///
/// Key changes (master-key rotation, rekey) are staged inside the writer's transaction
/// and take effect only once it commits (`settle`): until then every reader — who sees
/// the committed store — opens with the old KEK, while writes in the same transaction
/// already seal under the new one. A staged KEK opens too (a reader may see the commit a
/// moment before it is settled); a transaction that rolls back drops what it staged.
package final class KeyRing: Sendable {
    package let intake: IntakeKeyPair
    package let auditSigning: Ed25519SigningKey
    /// Keys session-token hashes and token fingerprints (BLAKE2b keyed).
    package let hashing: SecretBytes
    /// MACs of the clear columns the daemon acts on (`RowBindings`).
    package let bindings: RowBindings
    private let keys: Mutex<Keys>

    private struct Keys: Sendable {
        var root: RootKey
        var kek: KeyEncryptionKey
        var stagedKEK: KeyEncryptionKey?
        var stagedRoot: RootKey?
    }

    package var root: RootKey { keys.withLock { $0.root } }
    /// The active KEK: what readers open with and what `generation` reports.
    package var kek: KeyEncryptionKey { keys.withLock { $0.kek } }
    package var generation: Int64 { kek.generation }

    static let intakeOwner = "daemon:intake"
    static let auditOwner = "daemon:audit-signing"
    static let hashingOwner = "daemon:hashing"
    /// The secret the row bindings' keys are derived from.
    static let bindingOwner = "daemon:binding"

    private init(
        root: RootKey, kek: KeyEncryptionKey, intake: IntakeKeyPair, auditSigning: Ed25519SigningKey, hashing: SecretBytes,
        bindings: RowBindings
    ) {
        self.keys = Mutex(Keys(root: root, kek: kek))
        self.intake = intake
        self.auditSigning = auditSigning
        self.hashing = hashing
        self.bindings = bindings
    }

    /// Resolves a source into a root key, reading the store's Argon2id salt and limits
    /// for a passphrase.
    package static func rootKey(for source: RootKeySource, store: Store) throws -> RootKey {
        switch source {
        case .keyFile(let path):
            return try KeyFile.read(path: path)
        case .passphrase(let pass):
            guard let saltHex = try store.metadata("argon2id_salt"), let salt = Hex.decode(saltHex),
                salt.count == PassphraseLimits.saltBytes,
                let ops = try store.metadata("argon2id_ops").flatMap(UInt64.init),
                let mem = try store.metadata("argon2id_mem").flatMap(Int.init)
            else {
                throw StoreError.wrongKeySource(expected: "a key file (--key-file), not a passphrase")
            }
            let limits = PassphraseLimits(opsLimit: ops, memLimit: mem)
            guard limits.isAcceptable else {
                throw StoreError.corrupt(path: store.path, reason: "Argon2id limits in metadata are out of range")
            }
            return try RootKey.derive(passphrase: pass, salt: salt, limits: limits)
        }
    }

    /// Creates the key ring of a new store: generation 1 and the sub-keys, in one
    /// transaction. For a passphrase, `limits` are the Argon2id limits to record.
    package static func initialize(
        store: Store, source: RootKeySource, limits: PassphraseLimits = .moderate
    ) throws -> KeyRing {
        guard !store.isInitialized else { throw StoreError.alreadyInitialized(path: store.directory) }
        let root: RootKey
        var meta: [(String, String)] = [("root_kind", source.kind)]
        switch source {
        case .keyFile(let path):
            root = FileManager.default.fileExists(atPath: path) ? try KeyFile.read(path: path) : try KeyFile.create(path: path)
        case .passphrase(let pass):
            let salt = randomBytes(PassphraseLimits.saltBytes)
            root = try RootKey.derive(passphrase: pass, salt: salt, limits: limits)
            meta += [("argon2id_salt", Hex.encode(salt)), ("argon2id_ops", String(limits.opsLimit)), ("argon2id_mem", String(limits.memLimit))]
        }
        let kek = try KeyEncryptionKey.generate(generation: 1)
        let intake = try IntakeKeyPair.generate()
        let audit = try Ed25519SigningKey.generate()
        let hashing = try SecretBytes.random(count: 32)
        let bindingSecret = try SecretBytes.random(count: SubkeyDerivation.masterBytes)
        let bindings = try RowBindings(secret: bindingSecret)
        meta += [
            ("root_check", Hex.encode(root.checkValue)),
            ("audit_public_key", Hex.encode(audit.publicKey)),
            ("intake_public_key", Hex.encode(intake.publicKey)),
            ("created_at", Timestamp.now().description),
        ]
        let now = Timestamp.now().description
        try store.database.write { db in
            try db.execute(
                sql: "INSERT INTO key_generation(generation, wrapped_kek, created_at) VALUES (1, ?, ?)",
                arguments: [Data(root.wrap(kek)), now])
            try insertSubkey(db, owner: intakeOwner, secret: intake.secretKey, kek: kek, now: now)
            try insertSubkey(db, owner: auditOwner, secret: try audit.seed(), kek: kek, now: now)
            try insertSubkey(db, owner: hashingOwner, secret: hashing, kek: kek, now: now)
            try insertSubkey(db, owner: bindingOwner, secret: bindingSecret, kek: kek, now: now)
            for (k, v) in meta {
                try db.execute(sql: "INSERT INTO metadata(key, value) VALUES (?, ?)", arguments: [k, v])
            }
        }
        store.install(bindings)
        return KeyRing(root: root, kek: kek, intake: intake, auditSigning: audit, hashing: hashing, bindings: bindings)
    }

    /// Unlocks an existing store. A wrong key is told by the check value before
    /// anything is opened or written.
    ///
    /// `beforeWriting` runs once the key is known to be right and before unlock writes
    /// anything (the daemon verifies the audit chain there, so a store it refuses is left
    /// as it was). Unlock writes only to upgrade an older store format (docs/STORE.md): a
    /// store from before row bindings (its key generation wrapped as `latchkey/kek/v1`)
    /// gets, in one transaction, a new generation (wrapped as v2, every data key re-wrapped,
    /// the old one deleted), the binding sub-key and a MAC on every row; a v2 store (from
    /// before the SCM columns were bound) likewise a new generation wrapped as v3 and the
    /// SCM columns' MACs. A store that claims an older format but holds any binding of a
    /// newer one is refused: that is a downgrade by someone who cannot wrap a key.
    package static func unlock(
        store: Store, root: RootKey, beforeWriting: (_ store: Store, _ auditPublicKey: [UInt8]) throws -> Void = { _, _ in }
    ) throws -> KeyRing {
        guard let checkHex = try store.metadata("root_check"), let check = Hex.decode(checkHex) else {
            throw StoreError.notInitialized(path: store.directory)
        }
        guard root.matches(checkValue: check) else { throw StoreError.wrongMasterKey }
        let (kek, format, intake, audit, hashing) = try store.database.read { db in
            guard let row = try SQLRow.fetchOne(db, sql: "SELECT generation, wrapped_kek FROM key_generation ORDER BY generation DESC LIMIT 1")
            else { throw StoreError.corrupt(path: store.path, reason: "no key generation") }
            let gen: Int64 = row["generation"]
            let wrapped = Array(row["wrapped_kek"] as Data)
            guard let (kek, format) = try? root.unwrapAnyKEK(wrapped, generation: gen) else {
                throw StoreError.corrupt(path: store.path, reason: "key generation \(gen) does not open with this master key")
            }
            return (
                kek, format, IntakeKeyPair(secretKey: try openSubkey(db, owner: intakeOwner, kek: kek)),
                try Ed25519SigningKey(seed: try openSubkey(db, owner: auditOwner, kek: kek)), try openSubkey(db, owner: hashingOwner, kek: kek)
            )
        }
        try beforeWriting(store, audit.publicKey)
        // The one-time upgrades, oldest first, each in its own transaction under a new
        // key generation (a crash between them leaves a store the next unlock finishes).
        var active = kek
        if format == .unbound { active = try upgrade(store: store, root: root, from: active) }
        if format < .scmBindings { active = try upgradeSCMBindings(store: store, root: root, from: active) }
        let bindings = try store.database.read { db in try RowBindings(secret: try openSubkey(db, owner: bindingOwner, kek: active)) }
        store.install(bindings)
        return KeyRing(root: root, kek: active, intake: intake, auditSigning: audit, hashing: hashing, bindings: bindings)
    }

    /// The one-time upgrade that binds the SCM columns (CA file, deploy-key install
    /// settings and state; docs/STORE.md): a store wrapped as `latchkey/kek/v2` gets a new
    /// generation wrapped as v3 (every data key re-wrapped, the old generation deleted, so
    /// the old v2 wrap no longer opens it) and an SCM MAC on every row, in one transaction.
    /// A store that claims v2 but already holds any SCM MAC was rolled back by someone
    /// without the master key: refused, nothing written.
    private static func upgradeSCMBindings(store: Store, root: RootKey, from old: KeyEncryptionKey) throws -> KeyEncryptionKey {
        try store.database.write { db in
            let bound = try Int.fetchOne(db, sql: """
                SELECT (SELECT count(*) FROM project WHERE scm_binding_mac IS NOT NULL)
                     + (SELECT count(*) FROM connection WHERE scm_binding_mac IS NOT NULL)
                     + (SELECT count(*) FROM scm_deploy_key WHERE binding_mac IS NOT NULL)
                     + (SELECT count(*) FROM token_verification)
                """) ?? 0
            guard bound == 0 else {
                throw StoreError.corrupt(
                    path: store.path,
                    reason: "its key generation is wrapped as from before the SCM columns were bound, yet it holds their bindings: it was rolled back by someone without the master key")
            }
            let new = try KeyEncryptionKey.generate(generation: old.generation + 1)
            try db.execute(
                sql: "INSERT INTO key_generation(generation, wrapped_kek, created_at) VALUES (?, ?, ?)",
                arguments: [new.generation, Data(root.wrap(new)), Timestamp.now().description])
            _ = try rewrapAll(in: db, from: old, to: new)
            try RowBindings(secret: try openSubkey(db, owner: bindingOwner, kek: new)).bindSCMColumns(in: db)
            try db.execute(sql: "INSERT INTO metadata(key, value) VALUES ('scm_bindings', 'v1') ON CONFLICT(key) DO UPDATE SET value = excluded.value")
            return new
        }
    }

    /// The one-time upgrade to row bindings (see `unlock`); returns the new active KEK.
    private static func upgrade(store: Store, root: RootKey, from old: KeyEncryptionKey) throws -> KeyEncryptionKey {
        try store.database.write { db in
            let bound = try Int.fetchOne(db, sql: """
                SELECT (SELECT count(*) FROM secret_version WHERE owner = ? OR binding_mac IS NOT NULL)
                     + (SELECT count(*) FROM project WHERE binding_mac IS NOT NULL)
                     + (SELECT count(*) FROM connection WHERE binding_mac IS NOT NULL)
                     + (SELECT count(*) FROM connection_certificate_settings WHERE binding_mac IS NOT NULL)
                """, arguments: [bindingOwner]) ?? 0
            guard bound == 0 else {
                throw StoreError.corrupt(
                    path: store.path,
                    reason: "its key generation is wrapped as from before row bindings, yet it holds bindings: it was rolled back by someone without the master key")
            }
            let new = try KeyEncryptionKey.generate(generation: old.generation + 1)
            try db.execute(
                sql: "INSERT INTO key_generation(generation, wrapped_kek, created_at) VALUES (?, ?, ?)",
                arguments: [new.generation, Data(root.wrap(new, format: .rowBindings)), Timestamp.now().description])
            _ = try rewrapAll(in: db, from: old, to: new)
            let secret = try SecretBytes.random(count: SubkeyDerivation.masterBytes)
            try insertSubkey(db, owner: bindingOwner, secret: secret, kek: new, now: Timestamp.now().description)
            try RowBindings(secret: secret).bindAll(in: db)
            try db.execute(sql: "INSERT INTO metadata(key, value) VALUES ('row_bindings', 'v1') ON CONFLICT(key) DO UPDATE SET value = excluded.value")
            return new
        }
    }

    private static func insertSubkey(_ db: StoreDB, owner: String, secret: SecretBytes, kek: KeyEncryptionKey, now: String) throws {
        let sealed = try kek.seal(secret, for: RecordBinding(kind: "subkey", id: owner, version: 1))
        try db.execute(
            sql: """
                INSERT INTO secret_version(kind, owner, version, state, created_at, sealed_payload, wrapped_dek, generation)
                VALUES ('subkey', ?, 1, 'active', ?, ?, ?, ?)
                """,
            arguments: [owner, now, Data(sealed.sealedPayload), Data(sealed.wrappedDataKey), sealed.generation])
    }

    private static func openSubkey(_ db: StoreDB, owner: String, kek: KeyEncryptionKey) throws -> SecretBytes {
        guard let row = try SQLRow.fetchOne(
                db, sql: "SELECT sealed_payload, wrapped_dek, generation FROM secret_version WHERE kind = 'subkey' AND owner = ? AND version = 1",
                arguments: [owner])
        else { throw StoreError.corrupt(path: "store", reason: "sub-key \(owner) is missing") }
        let sealed = SealedSecret(
            sealedPayload: Array(row["sealed_payload"] as Data), wrappedDataKey: Array(row["wrapped_dek"] as Data),
            generation: row["generation"])
        return try kek.open(sealed, for: RecordBinding(kind: "subkey", id: owner, version: 1))
    }

    // MARK: Sealing records

    /// Seals under the KEK the store's current transaction holds: a staged one (the
    /// writer is inside a rotation) or the active one. Only the writer seals.
    package func seal(_ payload: SecretBytes, for record: RecordBinding) throws -> SealedSecret {
        try keys.withLock { $0.stagedKEK ?? $0.kek }.seal(payload, for: record)
    }

    /// Opens with the KEK of the blob's generation: the active one, or one staged by a
    /// rotation whose commit a reader already sees.
    package func open(_ sealed: SealedSecret, for record: RecordBinding) throws -> SecretBytes {
        let kek = keys.withLock { k in k.stagedKEK?.generation == sealed.generation ? k.stagedKEK! : k.kek }
        return try kek.open(sealed, for: record)
    }

    /// A keyed BLAKE2b-256 of `bytes` (session-token hashes, token fingerprints).
    package func keyedHash(_ bytes: SecretBytes, purpose: String) -> [UInt8] {
        var h = Blake2b(key: hashing)
        h.update(RecordBinding.fieldBytes(purpose))
        bytes.withUnsafeBytes { h.update($0) }
        return h.finalize()
    }

    // MARK: Master-key rotation

    /// Adds generation N+1, re-wraps every data key from N to N+1 and deletes N's
    /// wrapped KEK, all inside the caller's transaction `db` (payloads untouched). The
    /// new KEK is staged; the caller settles it once the transaction's fate is known
    /// (`settle(committed:)`, on the writer thread, before its next transaction).
    package func rotate(in db: StoreDB) throws -> (KeyEncryptionKey, rewrapped: Int) {
        let (old, root) = keys.withLock { ($0.kek, $0.stagedRoot ?? $0.root) }
        let new = try KeyEncryptionKey.generate(generation: old.generation + 1)
        do {
            try db.execute(
                sql: "INSERT INTO key_generation(generation, wrapped_kek, created_at) VALUES (?, ?, ?)",
                arguments: [new.generation, Data(root.wrap(new)), Timestamp.now().description])
            let rewrapped = try Self.rewrapAll(in: db, from: old, to: new)
            keys.withLock { $0.stagedKEK = new }
            return (new, rewrapped)
        } catch {
            keys.withLock { $0.stagedKEK = nil }
            throw error
        }
    }

    /// Re-wraps every data key from `old` to `new` and deletes the older generations.
    private static func rewrapAll(in db: StoreDB, from old: KeyEncryptionKey, to new: KeyEncryptionKey) throws -> Int {
        let update = "UPDATE secret_version SET wrapped_dek = ?, generation = ? WHERE id = ?"
        try db.execute(sql: "UPDATE secret_version SET generation = ? WHERE length(wrapped_dek) = 0", arguments: [new.generation])
        // In pages by id, so memory stays flat however many secrets there are; each page is
        // read in full before any of it is updated.
        let page = """
            SELECT id, kind, owner, version, wrapped_dek, generation FROM secret_version
            WHERE length(wrapped_dek) > 0 AND id > ? ORDER BY id LIMIT 1000
            """
        var rewrapped = 0
        var after: Int64 = 0
        while true {
            let rows = try SQLRow.fetchAll(db, sql: page, arguments: [after])
            guard let last = rows.last else { break }
            after = last["id"]
            for row in rows {
                let gen: Int64 = row["generation"]
                guard gen == old.generation else {
                    throw StoreError.corrupt(path: "store", reason: "a data key of generation \(gen) outlived its generation")
                }
                let record = RecordBinding(kind: row["kind"], id: row["owner"], version: row["version"])
                let wrapped = try new.rewrap(Array(row["wrapped_dek"] as Data), from: old, for: record)
                try db.execute(sql: update, arguments: [Data(wrapped), new.generation, row["id"] as Int64])
            }
            rewrapped += rows.count
        }
        try db.execute(sql: "DELETE FROM key_generation WHERE generation < ?", arguments: [new.generation])
        return rewrapped
    }

    /// On a shared store: adopts the newer key generation another daemon's `master-key
    /// rotate` committed (it is wrapped under the same master key), so this daemon opens
    /// the re-wrapped data keys and seals under the new generation without a restart.
    /// Returns the generation now active if it changed, nil if it was current. A newer
    /// generation that this master key does not open (the store was rekeyed on another
    /// host) is an error that says to restart with the new key.
    package func adoptNewestGeneration(in db: StoreDB) throws -> Int64? {
        guard let row = try SQLRow.fetchAll(db, sql: "SELECT generation, wrapped_kek FROM key_generation ORDER BY generation DESC LIMIT 1").first
        else { throw StoreError.corrupt(path: "store", reason: "no key generation") }
        let generation: Int64 = row["generation"]
        let (current, root) = keys.withLock { ($0.kek.generation, $0.root) }
        guard generation > current else { return nil }
        guard let (kek, format) = try? root.unwrapAnyKEK(Array(row["wrapped_kek"] as Data), generation: generation), format == .current else {
            throw StoreError.corrupt(
                path: "store",
                reason: "key generation \(generation), added by another host, does not open with this daemon's master key (was the master key replaced with rekey there?); restart this daemon with the new key file or passphrase")
        }
        return keys.withLock { k in
            // The writer's own rotation, staged or settled, wins over what it reads.
            guard k.stagedKEK == nil, k.kek.generation < generation else { return nil }
            k.kek = kek
            return generation
        }
    }

    // MARK: Rekey

    /// Replaces the root key: the active KEK is wrapped under `newRoot` and the check
    /// value and the root's metadata (kind; Argon2id salt and limits for a passphrase)
    /// replaced, inside the caller's transaction. The new root is staged like a rotation's
    /// KEK. After it commits the old key file or passphrase no longer opens the store.
    package func rekey(to newRoot: RootKey, source: RootKeyMetadata, in db: StoreDB) throws {
        let kek = keys.withLock { $0.stagedKEK ?? $0.kek }
        do {
            let changed = try db.execute(
                sql: "UPDATE key_generation SET wrapped_kek = ? WHERE generation = ?", arguments: [Data(newRoot.wrap(kek)), kek.generation])
            guard changed == 1 else { throw StoreError.corrupt(path: "store", reason: "no key generation \(kek.generation)") }
            try db.execute(sql: "DELETE FROM metadata WHERE key IN ('argon2id_salt', 'argon2id_ops', 'argon2id_mem')")
            for (k, v) in source.entries + [("root_check", Hex.encode(newRoot.checkValue))] {
                try db.execute(
                    sql: "INSERT INTO metadata(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", arguments: [k, v])
            }
            keys.withLock { $0.stagedRoot = newRoot }
        } catch {
            keys.withLock { $0.stagedRoot = nil }
            throw error
        }
    }

    /// Makes what a transaction staged active once it committed, or drops it if the
    /// transaction rolled back. Called on the writer thread before its next transaction.
    package func settle(committed: Bool) {
        keys.withLock { k in
            if committed {
                if let kek = k.stagedKEK { k.kek = kek }
                if let root = k.stagedRoot { k.root = root }
            }
            k.stagedKEK = nil
            k.stagedRoot = nil
        }
    }

    /// Kept for callers that rotate outside the daemon's writer (the offline bench).
    package func activate(_ kek: KeyEncryptionKey) {
        keys.withLock { k in
            k.kek = kek
            k.stagedKEK = nil
        }
    }
}

/// What the store records about its root key (`KeyRing.rekey`).
package struct RootKeyMetadata: Sendable {
    var entries: [(String, String)]

    package static var keyFile: RootKeyMetadata { RootKeyMetadata(entries: [("root_kind", "key-file")]) }

    package static func passphrase(salt: [UInt8], limits: PassphraseLimits) -> RootKeyMetadata {
        RootKeyMetadata(entries: [
            ("root_kind", "passphrase"), ("argon2id_salt", Hex.encode(salt)), ("argon2id_ops", String(limits.opsLimit)),
            ("argon2id_mem", String(limits.memLimit)),
        ])
    }
}
