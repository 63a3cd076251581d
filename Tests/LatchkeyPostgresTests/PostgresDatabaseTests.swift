import Foundation
import LatchkeyCrypto
import LatchkeyPostgres
import LatchkeyStore
import LatchkeyTestSupport
import Testing

/// Opens a PostgresDatabase on `server` as `role` (its password from a libpq password file
/// named by PGPASSFILE, as the daemon gets it) in `database`.
func openPostgres(
    _ server: PostgresServer, role: String = PostgresServer.daemonRole, database: String = PostgresServer.database, query: String? = nil,
    readers: Int = 2, statementTimeout: Duration = .seconds(10), acquireTimeout: Duration = PostgresDatabase.defaultAcquireTimeout
) throws -> PostgresDatabase {
    let location = try PostgresLocation(parsing: server.url(role: role, database: database, query: query))
    let password = try PostgresPassword.resolve(for: location, passwordFile: nil, environment: ["PGPASSFILE": try server.passfile(role: role)])
    return try PostgresDatabase(
        location: location, password: password, readerCount: readers, statementTimeout: statementTimeout, acquireTimeout: acquireTimeout)
}

/// PostgresDatabase against a real PostgreSQL server: values round-trip exactly, writes are
/// serialisable and retried on conflict, a server that goes away makes calls fail
/// `.unavailable` and come back without reopening, and connection problems say what to fix.
@Suite(.enabled(if: PostgresServer.testsEnabled, Comment(rawValue: PostgresServer.skipMessage)))
struct PostgresDatabaseTests {
    @Test func theHarnessServerRunsAsAnUnprivilegedUserWithFsyncOn() throws {
        let server = try PostgresServer.shared()
        #expect(try server.superuserSQL("SHOW fsync").trimmingCharacters(in: .whitespacesAndNewlines) == "on")
        var st = stat()
        #expect(stat(server.dataDirectory, &st) == 0 && st.st_uid == PostgresServer.serverUser.uid)
        #expect(st.st_mode & 0o077 == 0)
        // Roles log in over TCP with their scram password only.
        #expect(try server.psql(as: PostgresServer.daemonRole, "SELECT current_user").out.contains(PostgresServer.daemonRole))
        let wrong = try server.passfile(role: PostgresServer.daemonRole, password: "not-the-password")
        var env = ProcessInfo.processInfo.environment
        env["PGPASSFILE"] = wrong
        let r = runCaptured(["psql", "-X", "-h", "127.0.0.1", "-p", String(server.port), "-U", PostgresServer.daemonRole, "-d", "latchkey", "-c", "SELECT 1"], environment: env)
        #expect(r.status != 0)
    }

    @Test func everyValueTypeAndNullRoundTripsExactly() throws {
        let server = try PostgresServer.shared()
        let name = try server.createDatabase()
        let db = try openPostgres(server, role: PostgresServer.ownerRole, database: name)
        let blob = Data((0...255).map { UInt8($0) })
        try db.write { db in
            try db.execute(sql: "CREATE TABLE v (i BIGINT, t TEXT, b BYTEA, d DOUBLE PRECISION, n BIGINT)")
            try db.execute(sql: "INSERT INTO v VALUES (?, ?, ?, ?, ?)", arguments: [Int64.min, "héllo ✓ 'quoted' ?", blob, 2.5, nil])
            try db.execute(sql: "INSERT INTO v VALUES (?, ?, ?, ?, ?)", arguments: [Int64.max, "", Data(), -0.125, Int64(0)])
        }
        let rows = try db.read { db in try SQLRow.fetchAll(db, sql: "SELECT i, t, b, d, n FROM v ORDER BY i") }
        #expect(rows.count == 2)
        #expect(rows[0].values == [.integer(Int64.min), .text("héllo ✓ 'quoted' ?"), .blob(blob), .real(2.5), .null])
        #expect(rows[1].values == [.integer(Int64.max), .text(""), .blob(Data()), .real(-0.125), .integer(0)])
        #expect(rows[0].columns == ["i", "t", "b", "d", "n"])
        // NULL binds into any column type; comparisons come back as 0/1 like SQLite's.
        let r = try db.read { db in
            try SQLRow.fetchOne(db, sql: "SELECT count(*) AS c, sum(i) AS s, (1 = 1) AS yes, ? IS NULL AS isnull FROM v WHERE n IS NOT DISTINCT FROM ?", arguments: [Int64(1), nil])
        }
        #expect(r?.value("c") == .integer(1))
        #expect(r?.value("s") == .integer(Int64.min))
        #expect(r?.value("yes") == .integer(1))
        #expect(r?.value("isnull") == .integer(0))
        let counted = try db.write { db in try db.execute(sql: "UPDATE v SET t = ? WHERE n IS NULL OR n = ?", arguments: ["x", Int64(0)]) }
        #expect(counted == 2)
        let returned = try db.write { db in try Int64.fetchOne(db, sql: "INSERT INTO v(i) VALUES (?) RETURNING i", arguments: [Int64(7)]) }
        #expect(returned == 7)
    }

    @Test func forEachRowStreamsLongResultsAndStopsEarly() throws {
        let server = try PostgresServer.shared()
        let name = try server.createDatabase()
        let db = try openPostgres(server, role: PostgresServer.ownerRole, database: name)
        try db.write { db in
            try db.execute(sql: "CREATE TABLE n (k BIGINT PRIMARY KEY)")
            try db.execute(sql: "INSERT INTO n SELECT generate_series(1, ?)", arguments: [Int64(1000)])
        }
        var seen: [Int64] = []
        try db.read { db in
            try db.forEachRow(sql: "SELECT k FROM n WHERE k > ? ORDER BY k", arguments: [Int64(0)]) { row in
                seen.append(row["k"])
                // A lookup inside the loop (another cursor on the same connection).
                let one = try Int64.fetchOne(db, sql: "SELECT k FROM n WHERE k = ?", arguments: [row["k"] as Int64])
                #expect(one == row["k"])
                return true
            }
        }
        #expect(seen == Array(1...1000))
        var firstThree: [Int64] = []
        try db.read { db in
            try db.forEachRow(sql: "SELECT k FROM n ORDER BY k") { row in
                firstThree.append(row["k"])
                return firstThree.count < 3
            }
            // The transaction is still usable after stopping early.
            #expect(try Int64.fetchOne(db, sql: "SELECT count(*) FROM n") == 1000)
        }
        #expect(firstThree == [1, 2, 3])
        let all = try db.read { db in try Int64.fetchAll(db, sql: "SELECT k FROM n ORDER BY k") }
        #expect(all.count == 1000)
    }

    @Test func aFailedWriteLeavesNothingAndAConstraintIsAConstraint() throws {
        let server = try PostgresServer.shared()
        let name = try server.createDatabase()
        let db = try openPostgres(server, role: PostgresServer.ownerRole, database: name)
        try db.write { db in try db.execute(sql: "CREATE TABLE u (k TEXT PRIMARY KEY, secret TEXT)") }
        try db.write { db in try db.execute(sql: "INSERT INTO u VALUES (?, ?)", arguments: ["a", "first"]) }
        do {
            try db.write { db in
                try db.execute(sql: "INSERT INTO u VALUES (?, ?)", arguments: ["b", "kept?"])
                try db.execute(sql: "INSERT INTO u VALUES (?, ?)", arguments: ["a", "do-not-print-me"])
            }
            Issue.record("a duplicate key was accepted")
        } catch let e as SQLError {
            #expect(e.kind == .constraint)
            #expect(e.message.contains("SQLSTATE 23505"))
            #expect(!e.message.contains("do-not-print-me"))  // DETAIL quotes the row; it is not kept
        }
        #expect(try db.read { db in try Int64.fetchOne(db, sql: "SELECT count(*) FROM u") } == 1)
        // Row code that swallows a failure cannot commit half a transaction.
        #expect(throws: SQLError.self) {
            try db.write { db in
                try db.execute(sql: "INSERT INTO u VALUES (?, ?)", arguments: ["c", "x"])
                _ = try? db.execute(sql: "INSERT INTO u VALUES (?, ?)", arguments: ["a", "x"])
            }
        }
        #expect(try db.read { db in try Int64.fetchOne(db, sql: "SELECT count(*) FROM u") } == 1)
        // A savepoint rolls back only its own part.
        try db.write { db in
            try db.execute(sql: "INSERT INTO u VALUES (?, ?)", arguments: ["d", "x"])
            try? db.inSavepoint {
                try db.execute(sql: "INSERT INTO u VALUES (?, ?)", arguments: ["a", "x"])
                return .commit
            }
        }
        #expect(try db.read { db in try String.fetchAll(db, sql: "SELECT k FROM u ORDER BY k") } == ["a", "d"])
        // A read is read-only.
        #expect(throws: SQLError.self) { try db.read { db in try db.execute(sql: "DELETE FROM u") } }
    }

    @Test func aSerializationConflictIsRetriedAndBothWritesLand() throws {
        let server = try PostgresServer.shared()
        let name = try server.createDatabase()
        let a = try openPostgres(server, role: PostgresServer.ownerRole, database: name)
        let b = try openPostgres(server, role: PostgresServer.ownerRole, database: name)
        try a.write { db in
            try db.execute(sql: "CREATE TABLE c (k TEXT PRIMARY KEY, n BIGINT NOT NULL)")
            try db.execute(sql: "INSERT INTO c VALUES ('x', 0)")
        }
        // A reads, waits until B has committed its increment, then writes: SERIALIZABLE
        // refuses A's first attempt (40001), A runs again and sees B's row.
        let attempts = Counter()
        let bDone = DispatchSemaphore(value: 0)
        let aRead = DispatchSemaphore(value: 0)
        let aFinished = DispatchSemaphore(value: 0)
        let seenByA = Counter()
        Thread.detachNewThread {
            let n = try? a.write { db -> Int64 in
                let n = try Int64.fetchOne(db, sql: "SELECT n FROM c WHERE k = 'x'") ?? -1
                if attempts.increment() == 1 {
                    aRead.signal()
                    bDone.wait()
                }
                try db.execute(sql: "UPDATE c SET n = ? WHERE k = 'x'", arguments: [n + 1])
                return n
            }
            seenByA.set(Int(n ?? -1))
            aFinished.signal()
        }
        aRead.wait()
        try b.write { db in try db.execute(sql: "UPDATE c SET n = n + 1 WHERE k = 'x'") }
        bDone.signal()
        aFinished.wait()
        #expect(attempts.value == 2)
        #expect(seenByA.value == 1)
        #expect(try a.read { db in try Int64.fetchOne(db, sql: "SELECT n FROM c WHERE k = 'x'") } == 2)
    }

    @Test func aWriteThatKeepsConflictingGivesUpAfterFiveAttemptsAsUnavailable() throws {
        let server = try PostgresServer.shared()
        let name = try server.createDatabase()
        let a = try openPostgres(server, role: PostgresServer.ownerRole, database: name)
        let b = try openPostgres(server, role: PostgresServer.ownerRole, database: name)
        try a.write { db in
            try db.execute(sql: "CREATE TABLE c (k TEXT PRIMARY KEY, n BIGINT NOT NULL)")
            try db.execute(sql: "INSERT INTO c VALUES ('x', 0)")
        }
        let attempts = Counter()
        // Every attempt of A reads, then B commits a change to the same row before A writes.
        let e = #expect(throws: SQLError.self) {
            try a.write { db in
                let n = try Int64.fetchOne(db, sql: "SELECT n FROM c WHERE k = 'x'") ?? -1
                _ = attempts.increment()
                let committed = DispatchSemaphore(value: 0)
                Thread.detachNewThread {
                    try? b.write { db in try db.execute(sql: "UPDATE c SET n = n + 100 WHERE k = 'x'") }
                    committed.signal()
                }
                committed.wait()
                try db.execute(sql: "UPDATE c SET n = ? WHERE k = 'x'", arguments: [n + 1])
            }
        }
        #expect(attempts.value == PostgresDatabase.maximumWriteAttempts)
        #expect(e?.kind == .unavailable)
        #expect(e?.message.contains("40001") == true, "\(String(describing: e))")
        // Only B's five increments landed.
        #expect(try a.read { db in try Int64.fetchOne(db, sql: "SELECT n FROM c WHERE k = 'x'") } == 500)
    }

    /// `write(holdingLock:)` takes the lock with BEGIN and lets it go with COMMIT (each
    /// pair in one round trip): held while the closure runs, free after a commit, a
    /// failed closure or a COMMIT that PostgreSQL answered ROLLBACK, and the writer's
    /// connection is kept (a lock it could not release would cost the connection).
    @Test func aWriteHoldingTheChainLockHoldsItOnlyWhileItRuns() throws {
        struct Refused: Error {}
        let server = try PostgresServer.shared()
        let name = try server.createDatabase()
        let a = try openPostgres(server, role: PostgresServer.ownerRole, database: name)
        let probe = try openPostgres(server, role: PostgresServer.ownerRole, database: name)
        let key: Int64 = 0x4c4b_7465_7374
        func free() throws -> Bool {
            try probe.read { db in try Bool.fetchOne(db, sql: "SELECT pg_try_advisory_lock(\(key)) AND pg_advisory_unlock(\(key))") } == true
        }
        try a.write { db in try db.execute(sql: "CREATE TABLE l (k TEXT PRIMARY KEY)") }
        let writer = try a.write { db in try Int64.fetchOne(db, sql: "SELECT pg_backend_pid()") }
        let heldInside = try a.write(holdingLock: key) { db in
            try db.execute(sql: "INSERT INTO l VALUES ('a')")
            return try !free()
        }
        #expect(heldInside, "held while the closure runs")
        #expect(try free(), "released with the COMMIT")
        #expect(throws: Refused.self) { try a.write(holdingLock: key) { db in try db.execute(sql: "INSERT INTO l VALUES ('b')"); throw Refused() } }
        #expect(try free(), "released after a failed closure")
        #expect(throws: SQLError.self) {
            try a.write(holdingLock: key) { db in _ = try? db.execute(sql: "INSERT INTO l VALUES ('a')") }
        }
        #expect(try free(), "released after a COMMIT answered ROLLBACK")
        #expect(try a.write { db in try Int64.fetchOne(db, sql: "SELECT pg_backend_pid()") } == writer, "the writer's connection was kept")
        #expect(try a.read { db in try String.fetchAll(db, sql: "SELECT k FROM l") } == ["a"])
    }

    @Test func aNestedWriteIsRefusedInsteadOfWaitingForItself() throws {
        let server = try PostgresServer.shared()
        let db = try openPostgres(server, role: PostgresServer.ownerRole, database: try server.createDatabase())
        try db.write { _ in
            #expect(throws: SQLError.self) { try db.write { _ in } }
        }
    }

    @Test func aStoppedServerFailsUnavailableThenRecoversWithoutReopening() async throws {
        let server = try PostgresServer()
        let db = try openPostgres(server, role: PostgresServer.ownerRole)
        try await db.write { db in try db.execute(sql: "CREATE TABLE k (v BIGINT)") }
        try await db.write { db in try db.execute(sql: "INSERT INTO k VALUES (1)") }
        #expect(try await db.read { db in try Int64.fetchOne(db, sql: "SELECT count(*) FROM k") } == 1)
        server.stop()
        for _ in 0..<3 {
            do {
                try await db.write { db in try db.execute(sql: "INSERT INTO k VALUES (2)") }
                Issue.record("a write succeeded with the server stopped")
            } catch let e as SQLError {
                #expect(e.kind == .unavailable, "\(e)")
            }
            do {
                _ = try await db.read { db in try Int64.fetchOne(db, sql: "SELECT count(*) FROM k") }
                Issue.record("a read succeeded with the server stopped")
            } catch let e as SQLError {
                #expect(e.kind == .unavailable, "\(e)")
            }
        }
        try server.start()
        try await db.write { db in try db.execute(sql: "INSERT INTO k VALUES (3)") }
        #expect(try await db.read { db in try Int64.fetchAll(db, sql: "SELECT v FROM k ORDER BY v") } == [1, 3])
        #expect(try await db.read { db in try Int64.fetchOne(db, sql: "SELECT count(*) FROM k") } == 2)
    }

    @Test func aPoolExhaustedBySlowStatementsTimesOutCleanly() throws {
        let server = try PostgresServer.shared()
        let db = try openPostgres(
            server, role: PostgresServer.ownerRole, database: try server.createDatabase(), readers: 1, acquireTimeout: .milliseconds(500))
        for write in [false, true] {
            let holding = DispatchSemaphore(value: 0)
            let release = DispatchSemaphore(value: 0)
            let done = DispatchSemaphore(value: 0)
            Thread.detachNewThread {
                let hold: (StoreDB) throws -> Void = { db in
                    try db.execute(sql: "SELECT 1")
                    holding.signal()
                    release.wait()
                }
                _ = write ? try? db.write(hold) : try? db.read(hold)
                done.signal()
            }
            holding.wait()
            let e = #expect(throws: SQLError.self) {
                if write { try db.write { db in try db.execute(sql: "SELECT 1") } } else { _ = try db.read { db in try Int64.fetchOne(db, sql: "SELECT 1") } }
            }
            #expect(e?.kind == .unavailable)
            #expect(e?.message.contains("busy") == true, "\(String(describing: e))")
            release.signal()
            done.wait()
            // Free again: the next call goes through.
            #expect(try db.read { db in try Int64.fetchOne(db, sql: "SELECT 1") } == 1)
            try db.write { db in try db.execute(sql: "SELECT 1") }
        }
    }

    @Test func aStatementPastItsTimeoutIsCancelledByTheServerAndTheConnectionStaysUsable() throws {
        let server = try PostgresServer.shared()
        let db = try openPostgres(server, role: PostgresServer.ownerRole, database: try server.createDatabase(), readers: 1, statementTimeout: .milliseconds(300))
        let e = #expect(throws: SQLError.self) { try db.read { db in try db.execute(sql: "SELECT pg_sleep(5)") } }
        #expect(e?.kind == .unavailable)
        #expect(e?.message.contains("57014") == true, "\(String(describing: e))")
        #expect(try db.read { db in try Int64.fetchOne(db, sql: "SELECT 2") } == 2)
    }

    @Test func aServerThatIsNotThereIsUnavailableAndSaysWhere() throws {
        let port = PostgresServer.freeLoopbackPort()
        let location = try PostgresLocation(parsing: "postgresql://latchkey_daemon@127.0.0.1:\(port)/latchkey")
        let db = try PostgresDatabase(location: location, password: nil)
        let e = #expect(throws: SQLError.self) { try db.connect() }
        #expect(e?.kind == .unavailable)
        #expect(e?.message.contains("127.0.0.1:\(port)") == true, "\(String(describing: e))")
        // In the system's words, not NIO's description of each attempt.
        #expect(e?.message.hasSuffix("(Connection refused)") == true, "\(String(describing: e))")
    }

    @Test func aServerRestartedBetweenCallsCostsNoCall() throws {
        let server = try PostgresServer()
        let db = try openPostgres(server, role: PostgresServer.ownerRole, readers: 1)
        try db.write { db in try db.execute(sql: "CREATE TABLE r (v BIGINT)") }
        #expect(try db.read { db in try Int64.fetchOne(db, sql: "SELECT count(*) FROM r") } == 0)
        server.stop()
        try server.start()
        // The connections kept from before are dead; the first calls replace them.
        try db.write { db in try db.execute(sql: "INSERT INTO r VALUES (1)") }
        #expect(try db.read { db in try Int64.fetchOne(db, sql: "SELECT count(*) FROM r") } == 1)
    }

    @Test func aWrongPasswordIsAClearErrorWithoutThePassword() throws {
        let server = try PostgresServer.shared()
        let location = try PostgresLocation(parsing: server.url())
        let wrong = try server.passfile(role: PostgresServer.daemonRole, password: "wrong-horse-battery")
        let password = try PostgresPassword.resolve(for: location, passwordFile: nil, environment: ["PGPASSFILE": wrong])
        let db = try PostgresDatabase(location: location, password: password)
        do {
            try db.connect()
            Issue.record("connected with a wrong password")
        } catch {
            #expect(error.kind == .unavailable)
            #expect(error.message.contains("28P01"))
            #expect(error.message.contains(PostgresServer.daemonRole))
            #expect(error.message.contains("--database-password-file") && error.message.contains("PGPASSFILE"))
            #expect(!error.message.contains("wrong-horse-battery"))
        }
        // No password at all: says where to put one.
        let none = try PostgresDatabase(location: location, password: nil)
        let missing = #expect(throws: SQLError.self) { try none.connect() }
        #expect(missing?.message.contains("PGPASSFILE") == true, "\(String(describing: missing))")
        // The right one works.
        try openPostgres(server).connect()
    }

    @Test func tlsModesAsLibpqReadsThem() throws {
        let server = try PostgresServer(tls: true)
        // verify-full with the server's CA, by IP address and by name.
        try openPostgres(server, query: "sslmode=verify-full&sslrootcert=\(server.caPath)").connect()
        let byName = try PostgresLocation(parsing: server.url(host: "localhost", query: "sslmode=verify-full&sslrootcert=\(server.caPath)"))
        try PostgresDatabase(
            location: byName, password: PostgresPassword.resolve(for: byName, passwordFile: try server.passwordFile(), environment: [:])
        ).connect()
        // The connection really is TLS.
        let db = try openPostgres(server, query: "sslmode=require")
        let ssl = try db.read { db in try Int64.fetchOne(db, sql: "SELECT count(*) FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl") }
        #expect(ssl == 1)
        // An untrusted server certificate: a clear error naming sslrootcert.
        for query in ["sslmode=verify-full&sslrootcert=\(server.otherCAPath)", "sslmode=require&sslrootcert=\(server.otherCAPath)"] {
            do {
                try openPostgres(server, query: query).connect()
                Issue.record("trusted a certificate from another CA (\(query))")
            } catch let e as SQLError {
                #expect(e.kind == .unavailable)
                #expect(e.message.contains("not trusted") && e.message.contains("sslrootcert"), "\(e)")
            }
        }
        // require without a root certificate: encrypted, not verified (as libpq).
        try openPostgres(server, query: "sslmode=require").connect()
        try openPostgres(server, query: "sslmode=disable").connect()
    }

    @Test func verifyFullRefusesACertificateForAnotherName() throws {
        let server = try PostgresServer(tls: true, certificateNames: ["DNS:db.example"])
        let e = #expect(throws: SQLError.self) { try openPostgres(server, query: "sslmode=verify-full&sslrootcert=\(server.caPath)").connect() }
        #expect(e?.kind == .unavailable)
        #expect(e?.message.contains("does not name 127.0.0.1") == true, "\(String(describing: e))")
        // verify-ca checks the chain only, as libpq.
        try openPostgres(server, query: "sslmode=verify-ca&sslrootcert=\(server.caPath)").connect()
    }

    @Test func requireRefusesAServerWithoutTLS() throws {
        let server = try PostgresServer.shared()
        do {
            try openPostgres(server, query: "sslmode=require").connect()
            Issue.record("sslmode=require connected without TLS")
        } catch let e as SQLError {
            #expect(e.kind == .unavailable)
            #expect(e.message.contains("does not offer TLS"), "\(e)")
        }
        // prefer (the loopback default) falls back to plain TCP.
        try openPostgres(server).connect()
    }
}

/// A thread-safe counter for closures run on the database's threads.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func increment() -> Int { lock.withLock { n += 1; return n } }
    func set(_ v: Int) { lock.withLock { n = v } }
    func add(_ v: Int) -> Int { lock.withLock { n += v; return n } }
    var value: Int { lock.withLock { n } }
}
