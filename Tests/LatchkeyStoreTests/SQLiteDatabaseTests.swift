import Foundation
import LatchkeyCrypto
import LatchkeyStore
import Testing

/// The store's SQLite file behind the engine-neutral interface: the statements row code
/// writes (ON CONFLICT, RETURNING, `?` arguments), transactions and savepoints, and
/// SQLite's failures sorted into what the daemon does about them.
@Suite struct SQLiteDatabaseTests {
    struct Opened {
        let dir: String
        let store: Store
    }

    /// A fresh store with a scratch table shaped like the store's own (STRICT, NOT NULL, UNIQUE).
    func open() throws -> Opened {
        let dir = makeTempDirectory("sqlite")
        let store = try Store(directory: dir, create: true)
        try store.database.write { db in
            try db.execute(sql: "CREATE TABLE scratch(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, n INTEGER NOT NULL, mac BLOB NOT NULL) STRICT")
        }
        return Opened(dir: dir, store: store)
    }

    @Test func theStoreIsOnSQLiteWithItsFile() throws {
        let o = try open()
        #expect(o.store.engine == .sqlite)
        #expect(o.store.database.engine == .sqlite)
        #expect(o.store.sqlite?.path == o.store.path)
        try o.store.database.read { db in #expect(db.engine == .sqlite) }
    }

    @Test func executeCountsTheRowsItChangedAndReturningHandsBackTheID() throws {
        let o = try open()
        let ids = try o.store.database.write { db in
            try (1...3).map { (i: Int) in
                try Int64.fetchOne(db, sql: "INSERT INTO scratch(name, n, mac) VALUES (?, ?, ?) RETURNING id", arguments: ["r\(i)", i, Data([UInt8(i)])])
            }
        }
        #expect(ids == [1, 2, 3])
        let changed = try o.store.database.write { db in try db.execute(sql: "UPDATE scratch SET n = n + 10 WHERE n >= ?", arguments: [2]) }
        #expect(changed == 2)
        let none = try o.store.database.write { db in try db.execute(sql: "DELETE FROM scratch WHERE name = ?", arguments: ["absent"]) }
        #expect(none == 0)
        let select = try o.store.database.read { db in try db.execute(sql: "SELECT count(*) FROM scratch") }
        #expect(select == 0, "a query changes nothing, whatever the statement before it changed")
    }

    @Test func onConflictUpdatesTheExistingRowWithTheExcludedValues() throws {
        let o = try open()
        let sql = "INSERT INTO scratch(name, n, mac) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET n = excluded.n"
        try o.store.database.write { db in
            try db.execute(sql: sql, arguments: ["a", 1, Data([1])])
            try db.execute(sql: sql, arguments: ["a", 2, Data([1])])
            try db.execute(sql: "INSERT INTO scratch(name, n, mac) VALUES (?, ?, ?) ON CONFLICT DO NOTHING", arguments: ["a", 3, Data([1])])
        }
        let rows = try o.store.database.read { db in try SQLRow.fetchAll(db, sql: "SELECT name, n FROM scratch") }
        #expect(rows.count == 1 && (rows[0]["n"] as Int64) == 2)
    }

    @Test func valuesReadBackAsTheyWereBoundNullAndEmptyBlobIncluded() throws {
        let o = try open()
        try o.store.database.write { db in
            try db.execute(sql: "CREATE TABLE kinds(i INTEGER, r REAL, t TEXT, b BLOB, z BLOB NOT NULL) STRICT")
            try db.execute(sql: "INSERT INTO kinds VALUES (?, ?, ?, ?, ?)", arguments: [Int64.min, 0.25, "ünï", nil, Data()])
        }
        let row = try #require(try o.store.database.read { db in try SQLRow.fetchOne(db, sql: "SELECT * FROM kinds") })
        #expect(row.values == [.integer(Int64.min), .real(0.25), .text("ünï"), .null, .blob(Data())])
        #expect(row.columns == ["i", "r", "t", "b", "z"])
    }

    /// Statements with arguments are bound and stepped through SQLite's C API: a reused
    /// statement carries no value of its last run, a miscounted call is refused naming the
    /// count, and a lookup may run inside another statement's rows.
    @Test func boundStatementsAreReusedCleanlyAndMiscountedArgumentsAreRefused() throws {
        let o = try open()
        try o.store.database.write { db in
            try db.execute(sql: "CREATE TABLE kv(k TEXT PRIMARY KEY, v TEXT)")
            for (k, v) in [("a", "one"), ("b", nil), ("c", "three")] { try db.execute(sql: "INSERT INTO kv VALUES (?, ?)", arguments: [k, v]) }
            let e = #expect(throws: SQLError.self) { try db.execute(sql: "INSERT INTO kv VALUES (?, ?)", arguments: ["d"]) }
            #expect(e?.message.contains("wrong number of statement arguments: 1") == true, "\(String(describing: e))")
        }
        let pairs = try o.store.database.read { db in
            try db.mapRows(sql: "SELECT k FROM kv WHERE k >= ? ORDER BY k", arguments: ["a"]) { row -> String in
                let k: String = row["k"]
                let v = try String.fetchOne(db, sql: "SELECT v FROM kv WHERE k = ?", arguments: [k])
                return "\(k)=\(v ?? "nil")"
            }
        }
        #expect(pairs == ["a=one", "b=nil", "c=three"])
        #expect(try o.store.database.read { db in try Int64.fetchOne(db, sql: "SELECT count(*) FROM kv") } == 3)
    }

    @Test func forEachRowStopsWhenAskedAndPassesTheBodysErrorUnchanged() throws {
        let o = try open()
        try o.store.database.write { db in
            for i in 1...10 { try db.execute(sql: "INSERT INTO scratch(name, n, mac) VALUES (?, ?, ?)", arguments: ["r\(i)", i, Data()]) }
        }
        var seen: [Int64] = []
        try o.store.database.read { db in
            try db.forEachRow(sql: "SELECT n FROM scratch ORDER BY n") { row in
                seen.append(row["n"])
                return seen.count < 4
            }
        }
        #expect(seen == [1, 2, 3, 4])
        struct Stop: Error {}
        #expect(throws: Stop.self) {
            try o.store.database.read { db in try db.forEachRow(sql: "SELECT n FROM scratch") { _ in throw Stop() } }
        }
        // The statement was left half-read and is reused: it starts over.
        let all = try o.store.database.read { db in try Int64.fetchAll(db, sql: "SELECT n FROM scratch ORDER BY n") }
        #expect(all == Array(1...10))
    }

    @Test func aConstraintViolationIsAConstraintErrorThatNamesNoBoundValue() throws {
        let o = try open()
        try o.store.database.write { db in
            try db.execute(sql: "INSERT INTO scratch(name, n, mac) VALUES (?, ?, ?)", arguments: ["hunter2-secret", 1, Data()])
        }
        let error = try #require(throws: SQLError.self) {
            try o.store.database.write { db in
                try db.execute(sql: "INSERT INTO scratch(name, n, mac) VALUES (?, ?, ?)", arguments: ["hunter2-secret", 2, Data()])
            }
        }
        #expect(error.kind == .constraint)
        #expect(error.code == "SQLITE_CONSTRAINT")
        #expect(!error.message.contains("hunter2"))
        #expect(!error.isStorageFault)
    }

    @Test func aWriteWhoseClosureThrowsLeavesNothing() throws {
        let o = try open()
        struct Abort: Error {}
        #expect(throws: Abort.self) {
            try o.store.database.write { db in
                try db.execute(sql: "INSERT INTO scratch(name, n, mac) VALUES ('gone', 1, x'00')")
                throw Abort()
            }
        }
        #expect(try o.store.database.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM scratch") } == 0)
    }

    @Test func aSavepointUndoesOnlyItsOwnChanges() throws {
        let o = try open()
        struct Refused: Error {}
        try o.store.database.write { db in
            try db.execute(sql: "INSERT INTO scratch(name, n, mac) VALUES ('kept', 1, x'00')")
            #expect(throws: Refused.self) {
                try db.inSavepoint {
                    try db.execute(sql: "INSERT INTO scratch(name, n, mac) VALUES ('thrown', 2, x'00')")
                    throw Refused()
                }
            }
            try db.inSavepoint {
                try db.execute(sql: "INSERT INTO scratch(name, n, mac) VALUES ('rolled-back', 3, x'00')")
                return .rollback
            }
            try db.inSavepoint {
                try db.execute(sql: "INSERT INTO scratch(name, n, mac) VALUES ('released', 4, x'00')")
                return .commit
            }
        }
        let names = try o.store.database.read { db in try String.fetchAll(db, sql: "SELECT name FROM scratch ORDER BY n") }
        #expect(names == ["kept", "released"])
    }

    @Test func aReadOnlyWriterIsUnavailableAndTheStoreRecovers() throws {
        let o = try open()
        let error = try #require(throws: SQLError.self) {
            try o.store.database.write { db in
                try db.execute(sql: "PRAGMA query_only = ON")
                defer { _ = try? db.execute(sql: "PRAGMA query_only = OFF") }
                try db.execute(sql: "INSERT INTO scratch(name, n, mac) VALUES ('x', 1, x'00')")
            }
        }
        #expect(error.kind == .unavailable && error.code == "SQLITE_READONLY" && error.isStorageFault)
        try o.store.database.write { db in try db.execute(sql: "INSERT INTO scratch(name, n, mac) VALUES ('x', 1, x'00')") }
    }

    @Test func sqliteResultCodesSortIntoWhatTheDaemonDoes() {
        let unavailable: [Int32] = [13, 10, 5, 6, 8, 14, 7]  // FULL, IOERR, BUSY, LOCKED, READONLY, CANTOPEN, NOMEM
        for code in unavailable { #expect(SQLiteConnection.kind(code: code) == .unavailable, "\(code)") }
        #expect(SQLiteConnection.kind(code: 19) == .constraint)  // CONSTRAINT
        #expect(SQLiteConnection.kind(code: 2067) == .constraint)  // CONSTRAINT_UNIQUE (extended)
        #expect(SQLiteConnection.kind(code: 11) == .corrupt)  // CORRUPT
        #expect(SQLiteConnection.kind(code: 26) == .corrupt)  // NOTADB
        #expect(SQLiteConnection.kind(code: 1) == .other)  // ERROR
        #expect(SQLiteConnection.kind(code: 266) == .unavailable)  // IOERR_READ (extended)
    }

    @Test func rowBindingsAreTheUnlockedKeyRingsAndLockedBefore() throws {
        let o = try open()
        let locked = try #require(throws: StoreError.self) { try o.store.database.read { db in try db.bindings() } }
        #expect(locked.code == "store_locked")
        _ = try KeyRing.initialize(store: o.store, source: .keyFile(path: o.dir + "/master.key"))
        try o.store.database.read { db in _ = try db.bindings() }
        // Another store's database has bindings of its own (none yet).
        let other = try Store(directory: makeTempDirectory("sqlite-other"), create: true)
        #expect(throws: StoreError.self) { try other.database.read { db in try db.bindings() } }
    }

    @Test func aStoreOnADatabaseOpenedByItsEngineWorksLikeTheOneItOpensItself() throws {
        let dir = makeTempDirectory("sqlite-plugged")
        let first = try Store(directory: dir, create: true)
        let ring = try KeyRing.initialize(store: first, source: .keyFile(path: dir + "/master.key"))
        try first.database.write { db in
            try Connection.insert(Connection(name: "ghe", kind: .githubEnterprise, webURL: "https://ghe.example", apiURL: nil, sshURL: nil), in: db)
        }
        try first.sqlite!.close()
        // What another engine's opener does: open and prepare the database, then hand it over.
        let database = try SQLiteDatabase(path: dir + "/" + DataDirectory.databaseName)
        try database.prepareStore()
        let store = Store(directory: dir, database: database)
        #expect(store.path == database.path && store.engine == .sqlite)
        let again = try KeyRing.unlock(store: store, root: try KeyFile.read(path: dir + "/master.key"))
        #expect(again.intake.publicKey == ring.intake.publicKey)
        let found = try store.database.read { db in try Connection.find("ghe", in: db) }
        #expect(found.connection.webURL == "https://ghe.example")
    }

    @Test func asyncReadsAndWritesRunOnTheEnginesThreads() async throws {
        let o = try open()
        let id = try await o.store.database.write { db in
            try Int64.fetchOne(db, sql: "INSERT INTO scratch(name, n, mac) VALUES ('a', 1, x'00') RETURNING id")
        }
        let n = try await o.store.database.read { db in try Int.fetchOne(db, sql: "SELECT n FROM scratch WHERE id = ?", arguments: [id]) }
        #expect(n == 1)
        await #expect(throws: SQLError.self) {
            try await o.store.database.write { db in try db.execute(sql: "INSERT INTO scratch(name, n, mac) VALUES ('a', 2, x'00')") }
        }
    }
}

extension SQLiteDatabaseTests {
    @Test func mapRowsStreamsEachRowThroughItsTransformInOrder() throws {
        let o = try open()
        try o.store.database.write { db in
            for i in 1...5 { try db.execute(sql: "INSERT INTO scratch(name, n, mac) VALUES (?, ?, ?)", arguments: ["r\(i)", i, Data()]) }
        }
        let names = try o.store.database.read { db in
            try db.mapRows(sql: "SELECT name, n FROM scratch WHERE n > ? ORDER BY n DESC", arguments: [2]) { row in
                // Other statements may run while the rows stream.
                let total = try Int.fetchOne(db, sql: "SELECT count(*) FROM scratch") ?? 0
                return "\(row["name"] as String)/\(total)"
            }
        }
        #expect(names == ["r5/5", "r4/5", "r3/5"])
    }
}
