import Foundation

/// An open store: the SQLite database in the data directory, or (`init(directory:database:)`)
/// a database another engine opened.
///
/// Opening the SQLite file checks the directory's mode, the schema version (a newer store
/// is refused) and that the file is a Latchkey store at all; it never repairs anything.
/// The writer connection runs with `synchronous=FULL` (read back after GRDB's WAL set-up,
/// which lowers it to NORMAL), foreign keys, `secure_delete` and `recursive_triggers` on.
package final class Store: Sendable {
    package let directory: String
    /// The SQLite file (for another engine, where its own data directory would keep it).
    package let path: String
    package let database: any StoreDatabase

    /// Opens the SQLite store in `directory`. With `create`, makes the directory and an
    /// empty schema if none exists; without, refuses a directory with no store.
    package init(directory: String, create: Bool) throws(StoreError) {
        try DataDirectory.prepare(directory, create: create)
        self.directory = directory
        path = (directory as NSString).appendingPathComponent(DataDirectory.databaseName)
        let exists = FileManager.default.fileExists(atPath: path)
        if !exists && !create { throw .notInitialized(path: directory) }

        let path = self.path
        // An existing file is inspected on a read-only connection first: a damaged,
        // foreign or newer store is refused before anything can write to it (opening the
        // pool writes: GRDB creates and drops a table to make the WAL file exist).
        if exists { try Self.inspect(path) }
        let sqlite: SQLiteDatabase
        do {
            // A new file is created 0600 whatever the umask.
            if !exists {
                let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
                if fd >= 0 { close(fd) }
            }
            sqlite = try SQLiteDatabase(path: path)
        } catch {
            throw .corrupt(path: path, reason: Self.describe(error))
        }
        database = sqlite
        try checkAndMigrate(sqlite)
    }

    /// A store on a database its engine has opened and migrated (PostgreSQL); `directory`
    /// is the host's own data directory (default socket, agent sockets), already prepared.
    package init(directory: String, database: any StoreDatabase) {
        self.directory = directory
        path = (database as? SQLiteDatabase)?.path ?? (directory as NSString).appendingPathComponent(DataDirectory.databaseName)
        self.database = database
    }

    package var engine: SQLEngine { database.engine }

    /// The SQLite database, for the paths only that engine has (nil on another engine).
    package var sqlite: SQLiteDatabase? { database as? SQLiteDatabase }

    /// Installs the row bindings of the unlocked key ring (`KeyRing.unlock`).
    package func install(_ bindings: RowBindings) {
        database.bindingsSlot.install(bindings)
    }

    private func checkAndMigrate(_ sqlite: SQLiteDatabase) throws(StoreError) {
        do {
            try sqlite.prepareStore()
        } catch let e as StoreError {
            throw e
        } catch {
            throw .corrupt(path: path, reason: Self.describe(error))
        }
    }

    /// Checks an existing file without writing to it (`SQLiteDatabase.inspect`).
    private static func inspect(_ path: String) throws(StoreError) {
        do {
            try SQLiteDatabase.inspect(path)
        } catch let e as StoreError {
            throw e
        } catch {
            throw .corrupt(path: path, reason: describe(error))
        }
    }

    /// Copies the WAL into the database file and truncates it to zero bytes.
    ///
    /// Destroying material (a revoke, a project's removal, a master-key rotation or rekey)
    /// overwrites it in the database file (`secure_delete`), but the WAL still holds the
    /// page images from before until a checkpoint; this removes them. Returns false when
    /// readers kept the checkpoint from finishing (the next one finishes the job).
    /// Another engine has no WAL file to empty: true.
    package func truncateWAL() async throws -> Bool {
        guard let sqlite else { return true }
        return try await sqlite.truncateWAL()
    }

    /// Reads the synchronous level actually in force on the SQLite writer (2 = FULL; -1 on
    /// another engine).
    package func synchronousLevel() throws -> Int {
        guard let sqlite else { return -1 }
        return try sqlite.synchronousLevel()
    }

    package func metadata(_ key: String) throws -> String? {
        try database.read { db in try String.fetchOne(db, sql: "SELECT value FROM metadata WHERE key = ?", arguments: [key]) }
    }

    /// Whether the store holds a key ring (i.e. `init` completed).
    package var isInitialized: Bool {
        (try? metadata("root_check")) != nil
    }

    /// A short, non-secret description of a database error (bound values never appear:
    /// GRDB keeps statement arguments out of messages by default).
    package static func describe(_ error: any Error) -> String {
        SQLiteConnection.map(error).message
    }
}
