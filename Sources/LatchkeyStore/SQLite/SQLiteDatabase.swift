package import GRDB
import Foundation

/// The store's SQLite file behind `StoreDatabase`: GRDB's `DatabasePool` (WAL, one writer,
/// concurrent readers), opened with the store's configuration.
///
/// The writer runs with foreign keys, `secure_delete` and `recursive_triggers` on, and a
/// 5-second busy timeout; `synchronous=FULL` is set on it after GRDB's WAL set-up (which
/// lowers it to NORMAL) by `Store`. GRDB errors leave as `SQLError` (`SQLiteConnection.map`).
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

    package func read<T: Sendable>(_ body: @escaping @Sendable (StoreDB) throws -> T) async throws -> T {
        let slot = bindingsSlot
        do {
            return try await pool.read { db in try body(StoreDB(connection: SQLiteConnection(db), bindings: slot)) }
        } catch let e as DatabaseError {
            throw SQLiteConnection.map(e)
        }
    }

    package func write<T: Sendable>(_ body: @escaping @Sendable (StoreDB) throws -> T) async throws -> T {
        let slot = bindingsSlot
        do {
            return try await pool.write { db in try body(StoreDB(connection: SQLiteConnection(db), bindings: slot)) }
        } catch let e as DatabaseError {
            throw SQLiteConnection.map(e)
        }
    }

    /// Runs `body` outside a transaction on the writer (PRAGMAs, checkpoints, VACUUM).
    package func writeWithoutTransaction<T: Sendable>(_ body: @escaping @Sendable (StoreDB) throws -> T) async throws -> T {
        let slot = bindingsSlot
        do {
            return try await pool.writeWithoutTransaction { db in try body(StoreDB(connection: SQLiteConnection(db), bindings: slot)) }
        } catch let e as DatabaseError {
            throw SQLiteConnection.map(e)
        }
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
