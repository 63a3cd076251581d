public import LatchkeyCrypto
package import GRDB
import Foundation
import Synchronization

/// How the root key is supplied.
public enum RootKeySource: Sendable {
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
public final class KeyRing: Sendable {
    public let root: RootKey
    public let intake: IntakeKeyPair
    public let auditSigning: Ed25519SigningKey
    /// Keys session-token hashes and token fingerprints (BLAKE2b keyed).
    public let hashing: SecretBytes
    private let activeKEK: Mutex<KeyEncryptionKey>

    public var kek: KeyEncryptionKey { activeKEK.withLock { $0 } }
    public var generation: Int64 { kek.generation }

    static let intakeOwner = "daemon:intake"
    static let auditOwner = "daemon:audit-signing"
    static let hashingOwner = "daemon:hashing"

    private init(root: RootKey, kek: KeyEncryptionKey, intake: IntakeKeyPair, auditSigning: Ed25519SigningKey, hashing: SecretBytes) {
        self.root = root
        self.activeKEK = Mutex(kek)
        self.intake = intake
        self.auditSigning = auditSigning
        self.hashing = hashing
    }

    /// Resolves a source into a root key, reading the store's Argon2id salt and limits
    /// for a passphrase.
    public static func rootKey(for source: RootKeySource, store: Store) throws -> RootKey {
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
    public static func initialize(
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
            for (k, v) in meta {
                try db.execute(sql: "INSERT INTO metadata(key, value) VALUES (?, ?)", arguments: [k, v])
            }
        }
        return KeyRing(root: root, kek: kek, intake: intake, auditSigning: audit, hashing: hashing)
    }

    /// Unlocks an existing store. A wrong key is told by the check value before
    /// anything is opened or written.
    public static func unlock(store: Store, root: RootKey) throws -> KeyRing {
        guard let checkHex = try store.metadata("root_check"), let check = Hex.decode(checkHex) else {
            throw StoreError.notInitialized(path: store.directory)
        }
        guard root.matches(checkValue: check) else { throw StoreError.wrongMasterKey }
        return try store.database.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT generation, wrapped_kek FROM key_generation ORDER BY generation DESC LIMIT 1")
            else { throw StoreError.corrupt(path: store.path, reason: "no key generation") }
            let gen: Int64 = row["generation"]
            let wrapped: Data = row["wrapped_kek"]
            let kek = try root.unwrapKEK(Array(wrapped), generation: gen)
            let intake = IntakeKeyPair(secretKey: try openSubkey(db, owner: intakeOwner, kek: kek))
            let audit = try Ed25519SigningKey(seed: try openSubkey(db, owner: auditOwner, kek: kek))
            let hashing = try openSubkey(db, owner: hashingOwner, kek: kek)
            return KeyRing(root: root, kek: kek, intake: intake, auditSigning: audit, hashing: hashing)
        }
    }

    private static func insertSubkey(_ db: Database, owner: String, secret: SecretBytes, kek: KeyEncryptionKey, now: String) throws {
        let sealed = try kek.seal(secret, for: RecordBinding(kind: "subkey", id: owner, version: 1))
        try db.execute(
            sql: """
                INSERT INTO secret_version(kind, owner, version, state, created_at, sealed_payload, wrapped_dek, generation)
                VALUES ('subkey', ?, 1, 'active', ?, ?, ?, ?)
                """,
            arguments: [owner, now, Data(sealed.sealedPayload), Data(sealed.wrappedDataKey), sealed.generation])
    }

    private static func openSubkey(_ db: Database, owner: String, kek: KeyEncryptionKey) throws -> SecretBytes {
        guard let row = try Row.fetchOne(
                db, sql: "SELECT sealed_payload, wrapped_dek, generation FROM secret_version WHERE kind = 'subkey' AND owner = ? AND version = 1",
                arguments: [owner])
        else { throw StoreError.corrupt(path: "store", reason: "sub-key \(owner) is missing") }
        let sealed = SealedSecret(
            sealedPayload: Array(row["sealed_payload"] as Data), wrappedDataKey: Array(row["wrapped_dek"] as Data),
            generation: row["generation"])
        return try kek.open(sealed, for: RecordBinding(kind: "subkey", id: owner, version: 1))
    }

    // MARK: Sealing records

    public func seal(_ payload: SecretBytes, for record: RecordBinding) throws -> SealedSecret {
        try kek.seal(payload, for: record)
    }

    public func open(_ sealed: SealedSecret, for record: RecordBinding) throws -> SecretBytes {
        try kek.open(sealed, for: record)
    }

    /// A keyed BLAKE2b-256 of `bytes` (session-token hashes, token fingerprints).
    public func keyedHash(_ bytes: SecretBytes, purpose: String) -> [UInt8] {
        var h = Blake2b(key: hashing)
        h.update(RecordBinding.fieldBytes(purpose))
        bytes.withUnsafeBytes { h.update($0) }
        return h.finalize()
    }

    // MARK: Master-key rotation

    /// Adds generation N+1, re-wraps every data key from N to N+1 and deletes N's
    /// wrapped KEK, all inside the caller's transaction `db` (payloads untouched).
    /// Call `activate` with the result only after the transaction committed.
    package func rotate(in db: Database) throws -> (KeyEncryptionKey, rewrapped: Int) {
        let old = kek
        let new = try KeyEncryptionKey.generate(generation: old.generation + 1)
        try db.execute(
            sql: "INSERT INTO key_generation(generation, wrapped_kek, created_at) VALUES (?, ?, ?)",
            arguments: [new.generation, Data(root.wrap(new)), Timestamp.now().description])
        let update = try db.makeStatement(sql: "UPDATE secret_version SET wrapped_dek = ?, generation = ? WHERE id = ?")
        try db.execute(sql: "UPDATE secret_version SET generation = ? WHERE length(wrapped_dek) = 0", arguments: [new.generation])
        // In pages by id, so memory stays flat however many secrets there are; each page is
        // read in full before any of it is updated.
        let page = try db.makeStatement(sql: """
            SELECT id, kind, owner, version, wrapped_dek, generation FROM secret_version
            WHERE length(wrapped_dek) > 0 AND id > ? ORDER BY id LIMIT 1000
            """)
        var rewrapped = 0
        var after: Int64 = 0
        while true {
            let rows = try Row.fetchAll(page, arguments: [after])
            guard let last = rows.last else { break }
            after = last["id"]
            for row in rows {
                let gen: Int64 = row["generation"]
                guard gen == old.generation else {
                    throw StoreError.corrupt(path: "store", reason: "a data key of generation \(gen) outlived its generation")
                }
                let record = RecordBinding(kind: row["kind"], id: row["owner"], version: row["version"])
                let wrapped = try new.rewrap(Array(row["wrapped_dek"] as Data), from: old, for: record)
                try update.execute(arguments: [Data(wrapped), new.generation, row["id"] as Int64])
            }
            rewrapped += rows.count
        }
        try db.execute(sql: "DELETE FROM key_generation WHERE generation < ?", arguments: [new.generation])
        return (new, rewrapped)
    }

    public func activate(_ kek: KeyEncryptionKey) {
        activeKEK.withLock { $0 = kek }
    }
}
