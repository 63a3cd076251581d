package import GRDB
import Foundation

/// The store's SQLite file behind `StoreDatabase`: GRDB's `DatabasePool` (WAL, one writer,
/// concurrent readers), opened with the store's configuration.
///
/// The writer runs with foreign keys, `secure_delete` and `recursive_triggers` on, and a
/// 5-second busy timeout; `synchronous=FULL` is set on it after GRDB's WAL set-up (which
/// lowers it to NORMAL) by `prepareStore`. GRDB errors leave as `SQLError` (`SQLiteConnection.map`).
package final class SQLiteDatabase: StoreDatabase {
    package let path: String
    /// GRDB's pool, for the SQLite-only paths: migrations, `truncateWAL`, the synchronous
    /// level, backups of the file. Row code never sees it.
    package let pool: DatabasePool
    package let bindingsSlot = RowBindingsSlot()

    /// Opens (or, for a file that does not exist yet, creates) the pool at `path`.
    package init(path: String) throws {
        var config = Configuration()
        config.label = "latchkey.store"
        config.foreignKeysEnabled = true
        config.busyMode = .timeout(5)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA secure_delete = ON; PRAGMA recursive_triggers = ON")
        }
        self.path = path
        pool = try DatabasePool(path: path, configuration: config)
    }

    package var engine: SQLEngine { .sqlite }

    package func read<T>(_ body: (StoreDB) throws -> T) throws -> T {
        let slot = bindingsSlot
        return try Self.mapping { try pool.read { db in try body(StoreDB(connection: SQLiteConnection(db), bindings: slot)) } }
    }

    package func write<T>(_ body: (StoreDB) throws -> T) throws -> T {
        let slot = bindingsSlot
        return try Self.mapping { try pool.write { db in try body(StoreDB(connection: SQLiteConnection(db), bindings: slot)) } }
    }

    // The async forms run the blocking ones on the store's own threads (`StoreWorkers`),
    // not through GRDB's async forms: see there.

    package func read<T: Sendable>(_ body: @escaping @Sendable (StoreDB) throws -> T) async throws -> T {
        try await StoreWorkers.shared.run { try self.read(body) }
    }

    package func write<T: Sendable>(_ body: @escaping @Sendable (StoreDB) throws -> T) async throws -> T {
        try await StoreWorkers.shared.run { try self.write(body) }
    }

    /// Runs `body` outside a transaction on the writer (PRAGMAs, checkpoints, VACUUM).
    package func writeWithoutTransaction<T: Sendable>(_ body: @escaping @Sendable (StoreDB) throws -> T) async throws -> T {
        let slot = bindingsSlot
        return try await StoreWorkers.shared.run {
            try Self.mapping { try self.pool.writeWithoutTransaction { db in try body(StoreDB(connection: SQLiteConnection(db), bindings: slot)) } }
        }
    }

    // MARK: What only this engine has

    /// Checks an existing file without writing to it, on a read-only connection: SQLite's
    /// structural check, that it is a Latchkey store, and that its schema is not newer than
    /// this build's. Throws `StoreError.corrupt`/`.newerSchema`, or GRDB's error.
    package static func inspect(_ path: String) throws {
        var config = Configuration()
        config.readonly = true
        let queue = try DatabaseQueue(path: path, configuration: config)
        try queue.read { db in
            let check = try String.fetchAll(db, sql: "PRAGMA quick_check")
            guard check == ["ok"] else { throw StoreError.corrupt(path: path, reason: check.prefix(3).joined(separator: "; ")) }
            let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'")
            guard !tables.isEmpty else { return }
            guard tables.contains("metadata") else { throw StoreError.corrupt(path: path, reason: "no metadata table") }
            // Every table Latchkey makes is STRICT, and quick_check holds a STRICT table's
            // values to their declared types; a table whose STRICT was edited away could hold
            // any type in any column, which no reader of it expects.
            let loose = try String.fetchAll(db, sql: """
                SELECT name FROM pragma_table_list
                WHERE schema = 'main' AND type = 'table' AND NOT strict AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> 'grdb_migrations'
                ORDER BY name
                """)
            if let table = loose.first {
                throw StoreError.corrupt(path: path, reason: "table \(table) is not STRICT: its definition was edited")
            }
            if let v = try String.fetchOne(db, sql: "SELECT value FROM metadata WHERE key = 'schema_version'"),
                let found = Int(v), found > Schema.currentVersion
            {
                throw StoreError.newerSchema(path: path, found: found, supported: Schema.currentVersion)
            }
            if try Schema.migrator.hasBeenSuperseded(db) {
                throw StoreError.newerSchema(path: path, found: Schema.currentVersion + 1, supported: Schema.currentVersion)
            }
        }
        try queue.close()
    }

    /// Sets `synchronous=FULL` on the writer and reads it back (GRDB's WAL set-up lowers
    /// it to NORMAL), runs the migrations and records the schema version.
    package func prepareStore() throws {
        try pool.barrierWriteWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            let sync = try Int.fetchOne(db, sql: "PRAGMA synchronous")
            guard sync == 2 else { throw StoreError.unavailable(reason: "could not set synchronous=FULL") }
        }
        try Schema.migrator.migrate(pool)
        try pool.write { db in
            try db.execute(
                sql: "INSERT INTO metadata(key, value) VALUES ('schema_version', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                arguments: [String(Schema.currentVersion)])
        }
    }

    /// `PRAGMA wal_checkpoint(TRUNCATE)`: true when the WAL was emptied (`Store.truncateWAL`).
    package func truncateWAL() async throws -> Bool {
        try await StoreWorkers.shared.run {
            try self.pool.writeWithoutTransaction { db in
                guard let row = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)") else { return false }
                return (row[0] as Int?) == 0
            }
        }
    }

    /// The synchronous level in force on the writer (2 = FULL).
    package func synchronousLevel() throws -> Int {
        try pool.barrierWriteWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    }

    /// Closes the pool (tests reopening the file, restores).
    package func close() throws {
        try pool.close()
    }

    /// Errors of GRDB's own transaction handling (BEGIN, COMMIT) leave as `SQLError` too;
    /// the closure's own errors pass unchanged.
    private static func mapping<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as DatabaseError { throw SQLiteConnection.map(e) }
    }
}
