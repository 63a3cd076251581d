import GRDB
import Foundation

/// Backups of a live store, and restoring one.
///
/// A backup is one SQLite file written by `VACUUM INTO` on a read connection: a
/// consistent snapshot of every transaction committed when it began, taken while the
/// writer goes on (WAL readers never block it), compacted, in rollback-journal mode so
/// it opens read-only with nothing beside it. It holds what the store holds — sealed
/// rows, wrapped keys, the audit chain — and never the master key, which lives in a key
/// file or a passphrase outside the store: a backup is useless without it, and a stolen
/// backup gives nothing but ciphertext.
///
/// Files are made with `O_CREAT|O_EXCL` mode 0600, synced, and only then renamed into
/// place (and the directory synced), so a reader never sees half a backup and a crash
/// leaves the previous one intact.
package enum StoreBackup {
    /// What a backup file says about itself (nothing secret).
    package struct Facts: Sendable, Equatable {
        package var schemaVersion: Int
        /// The audit chain's last row and its hash; 0 and empty when it has none.
        package var lastAuditSeq: Int64
        package var chainHead: [UInt8]
        /// Sealed secret versions that still hold material (deploy keys, tokens, client secrets).
        package var sealedSecrets: Int
        package var bytes: Int64
    }

    /// Writes a snapshot of `store` to `path`, which must not exist: 0600, synced.
    package static func snapshot(_ store: Store, to path: String) throws(StoreError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .unavailable(reason: "cannot create \(path): \(String(cString: strerror(errno)))") }
        close(fd)
        do {
            let pool = try sqlitePool(store)
            // VACUUM refuses to run inside a transaction; its own read is the snapshot.
            try pool.unsafeRead { db in try db.execute(sql: "VACUUM INTO ?", arguments: [path]) }
            try syncFile(path)
        } catch {
            unlink(path)
            if let e = error as? StoreError { throw e }
            throw .unavailable(reason: "the snapshot failed: \(Store.describe(error))")
        }
    }

    /// `snapshot` on the store's own threads (`StoreWorkers`), for callers that must not
    /// block a thread of their own while a large store is copied.
    package static func snapshot(_ store: Store, to path: String) async throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StoreError.unavailable(reason: "cannot create \(path): \(String(cString: strerror(errno)))") }
        close(fd)
        do {
            let pool = try sqlitePool(store)
            try await StoreWorkers.shared.run { try pool.unsafeRead { db in try db.execute(sql: "VACUUM INTO ?", arguments: [path]) } }
            try syncFile(path)
        } catch {
            unlink(path)
            if let e = error as? StoreError { throw e }
            throw StoreError.unavailable(reason: "the snapshot failed: \(Store.describe(error))")
        }
    }

    /// The pool of a SQLite store; a backup is a copy of that file (another engine's
    /// database is backed up with its own tools).
    private static func sqlitePool(_ store: Store) throws(StoreError) -> DatabasePool {
        guard let pool = store.sqlite?.pool else {
            throw .invalid("`latchkey backup` copies a SQLite store's file; this store is on \(store.engine.rawValue): back it up with that engine's own tools")
        }
        return pool
    }

    /// Checks a backup file without writing to it or beside it: SQLite's full integrity
    /// check, that it is a Latchkey store with a key ring, and that its schema is not
    /// newer than this build's. Every refusal is `.damagedBackup` or `.newerSchema`.
    package static func inspect(_ path: String) throws(StoreError) -> Facts {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw .notFound(what: "backup file \(path) (\(String(cString: strerror(errno))))")
        }
        guard st.st_mode & S_IFMT == S_IFREG else { throw .damagedBackup(path: path, reason: "not a regular file") }
        var config = Configuration()
        config.readonly = true
        do {
            let queue = try DatabaseQueue(path: path, configuration: config)
            defer { try? queue.close() }
            return try queue.read { db in
                let mode = try String.fetchOne(db, sql: "PRAGMA journal_mode")
                guard mode != "wal" else { throw StoreError.damagedBackup(path: path, reason: "a WAL-mode file is not a backup made by `latchkey backup`") }
                let check = try String.fetchAll(db, sql: "PRAGMA integrity_check")
                guard check == ["ok"] else { throw StoreError.damagedBackup(path: path, reason: check.prefix(3).joined(separator: "; ")) }
                let tables = Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'"))
                for t in ["metadata", "audit", "audit_checkpoint", "secret_version", "key_generation"] where !tables.contains(t) {
                    throw StoreError.damagedBackup(path: path, reason: "no \(t) table")
                }
                guard let v = try String.fetchOne(db, sql: "SELECT value FROM metadata WHERE key = 'schema_version'"), let version = Int(v) else {
                    throw StoreError.damagedBackup(path: path, reason: "no schema version")
                }
                guard version <= Schema.currentVersion, !(try Schema.migrator.hasBeenSuperseded(db)) else {
                    throw StoreError.newerSchema(path: path, found: max(version, Schema.currentVersion + 1), supported: Schema.currentVersion)
                }
                guard try String.fetchOne(db, sql: "SELECT value FROM metadata WHERE key = 'root_check'") != nil else {
                    throw StoreError.damagedBackup(path: path, reason: "no key ring")
                }
                let head = try Row.fetchOne(db, sql: "SELECT seq, row_hash FROM audit ORDER BY seq DESC LIMIT 1")
                let sealed = try Int.fetchOne(
                    db, sql: "SELECT count(*) FROM secret_version WHERE kind != 'subkey' AND length(sealed_payload) > 0") ?? 0
                return Facts(
                    schemaVersion: version, lastAuditSeq: head?["seq"] ?? 0, chainHead: head.map { Array($0["row_hash"] as Data) } ?? [],
                    sealedSecrets: sealed, bytes: Int64(st.st_size))
            }
        } catch let e as StoreError {
            throw e
        } catch {
            throw .damagedBackup(path: path, reason: Store.describe(error))
        }
    }

    /// Makes `directory` (missing or empty; created 0700) a data directory holding the
    /// backup at `path`, after `inspect` passed. The copy is synced before it is renamed
    /// to the store's name, so a crash leaves either no store or the whole one.
    package static func restore(_ path: String, into directory: String) throws(StoreError) {
        _ = try inspect(path)
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) {
            guard entries.isEmpty else {
                throw .conflict(what: "\(directory) is not empty (\(entries.count) entr\(entries.count == 1 ? "y" : "ies")); restore into a new or empty directory")
            }
        }
        try DataDirectory.prepare(directory, create: true)
        let final = (directory as NSString).appendingPathComponent(DataDirectory.databaseName)
        let temporary = final + ".restoring"
        do {
            try copy(path, to: temporary)
            guard rename(temporary, final) == 0 else { throw StoreError.unavailable(reason: "cannot rename into \(final): \(String(cString: strerror(errno)))") }
            try syncFile(directory)
        } catch {
            unlink(temporary)
            if let e = error as? StoreError { throw e }
            throw .unavailable(reason: "\(error)")
        }
    }

    /// Opens every sealed secret version of `store` with `keyRing`, the way a release
    /// does (the version's own binding), and wipes each at once. Returns how many opened
    /// and which did not (kind, owner and version only).
    package static func openSealedSecrets(_ store: Store, keyRing: KeyRing) throws -> (opened: Int, failed: [String]) {
        // The copy's rows are checked against the key ring's row bindings too (a row whose
        // binding fails is listed as failed).
        store.install(keyRing.bindings)
        return try store.database.read { db in
            let rows = try SQLRow.fetchAll(
                db, sql: "SELECT kind, owner, version FROM secret_version WHERE kind != 'subkey' AND length(sealed_payload) > 0 ORDER BY id")
            var opened = 0
            var failed: [String] = []
            for row in rows {
                let name = "\(row["kind"] as String) \(row["owner"] as String) v\(row["version"] as Int64)"
                guard let kind = SecretKind(rawValue: row["kind"]),
                    let version = try? SecretVersions.find(kind: kind, owner: row["owner"], version: row["version"], in: db),
                    let sealed = try SecretVersions.sealed(kind: kind, owner: version.owner, version: version.version, in: db),
                    (try? keyRing.open(sealed, for: version.binding)) != nil
                else {
                    failed.append(name)
                    continue
                }
                opened += 1
            }
            return (opened, failed)
        }
    }

    /// Copies `source` to `destination` (created exclusively, 0600) and syncs it.
    package static func copy(_ source: String, to destination: String) throws(StoreError) {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw .unavailable(reason: "cannot read \(source): \(String(cString: strerror(errno)))") }
        defer { close(input) }
        let output = open(destination, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard output >= 0 else { throw .unavailable(reason: "cannot create \(destination): \(String(cString: strerror(errno)))") }
        defer { close(output) }
        var buffer = [UInt8](repeating: 0, count: copyChunkBytes)
        while true {
            let n = read(input, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw .unavailable(reason: "cannot read \(source): \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            var sent = 0
            while sent < n {
                let w = buffer.withUnsafeBytes { write(output, $0.baseAddress! + sent, n - sent) }
                if w < 0 && errno == EINTR { continue }
                guard w > 0 else { throw .unavailable(reason: "cannot write \(destination): \(String(cString: strerror(errno)))") }
                sent += w
            }
        }
        guard fsync(output) == 0 else { throw .unavailable(reason: "cannot sync \(destination): \(String(cString: strerror(errno)))") }
    }

    /// fsync of a file or directory by path.
    package static func syncFile(_ path: String) throws(StoreError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .unavailable(reason: "cannot open \(path) to sync it: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw .unavailable(reason: "cannot sync \(path): \(String(cString: strerror(errno)))") }
    }

    static let copyChunkBytes = 1 << 20
}
