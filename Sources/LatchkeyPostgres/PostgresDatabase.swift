package import LatchkeyStore
package import LatchkeyCrypto
import Dispatch
import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import Synchronization

/// The store's database on PostgreSQL (the fleet's shared store), over postgres-nio.
///
/// A small pool: one writer connection (writes are serialised on it, as on SQLite, which
/// keeps one daemon's writes in order; several daemons' writes meet in PostgreSQL) and
/// `readerCount` reader connections. Connections are opened on first use and dropped when
/// they fail (connection refused, lost, timed out): the next call opens a new one, so the
/// daemon recovers by itself when the server returns — meanwhile every call fails
/// `SQLError.unavailable` (the daemon answers 503).
///
/// Closures run on the database's own dispatch queue (the async forms) or on the calling
/// thread (the synchronous forms), never on an event loop: each statement blocks that
/// thread on its postgres-nio future. A call waits at most `acquireTimeout` for a free
/// connection, then fails `.unavailable`. `write` is `SERIALIZABLE`, its closure run again on a
/// serialization failure or deadlock (40001, 40P01), at most `maximumWriteAttempts` times,
/// and returns only after COMMIT answered with `synchronous_commit = on` (durable on the
/// server, and on its synchronous standbys if it has any). `read` is `REPEATABLE READ READ
/// ONLY`: one consistent snapshot for the whole closure.
package final class PostgresDatabase: StoreDatabase, Sendable {
    package let engine = SQLEngine.postgresql
    package let bindingsSlot = RowBindingsSlot()
    package let location: PostgresLocation

    package static let maximumWriteAttempts = 5
    /// The longest first pause before a write is run again (each later one up to `attempt` times this).
    static let retryPauseMicroseconds = 10_000
    package static let defaultReaderCount = 4
    package static let defaultStatementTimeout: Duration = .seconds(30)
    package static let defaultConnectTimeout: Duration = .seconds(10)
    /// How long a call waits for a free connection before it fails `.unavailable` (the
    /// pool is exhausted by slow statements: the request times out cleanly instead of
    /// queueing without end).
    package static let defaultAcquireTimeout: Duration = .seconds(10)

    private let writer: PostgresLane
    private let readers: [PostgresLane]
    private let freeReaders: Mutex<[Int]>
    private let readerSlots: DispatchSemaphore
    private let writerSlot = DispatchSemaphore(value: 1)
    /// The thread holding the writer, to refuse a write nested in a write on that thread
    /// (it would wait for itself).
    private let writerThread = Mutex<pthread_t?>(nil)
    private let acquireTimeout: Duration
    private let connector: PostgresConnector
    /// Whether `changeNotifications` listens (off behind a pooler that does not carry
    /// LISTEN: the poll alone then carries the feed).
    private let listensForChanges: Bool

    /// A database at `location`, logging in with `password` (nil: the server must not ask
    /// for one). Nothing is connected yet: `connect()` checks that the server can be
    /// reached, the password is right and the certificate trusted.
    package init(
        location: PostgresLocation, password: SecretBytes?, readerCount: Int = defaultReaderCount,
        statementTimeout: Duration = defaultStatementTimeout, connectTimeout: Duration = defaultConnectTimeout,
        acquireTimeout: Duration = defaultAcquireTimeout, listensForChanges: Bool = true
    ) throws(SQLError) {
        self.location = location
        self.acquireTimeout = acquireTimeout
        self.listensForChanges = listensForChanges
        let connector = try PostgresConnector(
            location: location, password: password, statementTimeout: statementTimeout, connectTimeout: connectTimeout)
        self.connector = connector
        writer = PostgresLane(connector: connector)
        let count = max(1, readerCount)
        readers = (0..<count).map { _ in PostgresLane(connector: connector) }
        freeReaders = Mutex(Array(0..<count))
        readerSlots = DispatchSemaphore(value: count)
    }

    deinit {
        writer.close(wait: false)
        for r in readers { r.close(wait: false) }
    }

    /// Opens the writer connection now (if it is not open) and runs a trivial statement: a
    /// wrong password, an untrusted certificate or a server that cannot be reached fails
    /// here, at start, with a message that says what to fix.
    package func connect() throws(SQLError) {
        do {
            _ = try withWriter { lane in try lane.run { c in try c.executeRaw("SELECT 1") } }
        } catch let e as SQLError { throw e } catch { throw SQLError(kind: .other, message: "\(error)") }
    }

    /// Closes every connection (calls after this open new ones).
    package func close() {
        writer.close()
        for r in readers { r.close() }
    }

    // MARK: - StoreDatabase

    package func write<T>(_ body: (StoreDB) throws -> T) throws -> T {
        try withWriter { lane in try transaction(lane, write: true, body) }
    }

    /// A write that holds the session-level advisory lock `key` from before BEGIN to after
    /// COMMIT or ROLLBACK (on every attempt): writers of every daemon that take the same
    /// key run one at a time, and each one's snapshot is taken after it got the lock, so
    /// it sees what the writer before it committed. (A transaction-level lock taken by the
    /// first statement would come too late: a SERIALIZABLE snapshot is taken when that
    /// statement starts, before it waits for the lock.) Waiting for the lock counts
    /// against the statement timeout.
    package func write<T>(holdingLock key: Int64, _ body: (StoreDB) throws -> T) throws -> T {
        try withWriter { lane in try transaction(lane, write: true, lock: key, body) }
    }

    package func read<T>(_ body: (StoreDB) throws -> T) throws -> T {
        try withReader { lane in try transaction(lane, write: false, body) }
    }

    package func write<T: Sendable>(_ body: @escaping @Sendable (StoreDB) throws -> T) async throws -> T {
        try await StoreWorkers.shared.run { try self.write(body) }
    }

    package func read<T: Sendable>(_ body: @escaping @Sendable (StoreDB) throws -> T) async throws -> T {
        try await StoreWorkers.shared.run { try self.read(body) }
    }

    /// A wake-up for each notification on `PostgresSchema.changesChannel`, over a connection
    /// of its own that LISTENs (reopened a second after it failed; each (re)connection
    /// yields once, for what was written meanwhile). Notifications are best-effort: the
    /// feed is polled all the same. Nil when `listensForChanges` is off.
    package func changeNotifications() -> AsyncStream<Void>? {
        guard listensForChanges else { return nil }
        let connector = connector
        return AsyncStream { continuation in
            let task = Task {
                while !Task.isCancelled {
                    do {
                        let connection = try await connector.connectForListening()
                        do {
                            try await connection.listen(on: PostgresSchema.changesChannel) { notifications in
                                continuation.yield()
                                for try await _ in notifications { continuation.yield() }
                            }
                        } catch {}
                        try? await connection.close()
                    } catch {}
                    try? await Task.sleep(for: .seconds(1))
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    // MARK: - The pool

    private var deadline: DispatchTime {
        let c = acquireTimeout.components
        return .now() + .nanoseconds(Int(c.seconds) * 1_000_000_000 + Int(c.attoseconds / 1_000_000_000))
    }

    private func withWriter<T>(_ body: (PostgresLane) throws -> T) throws -> T {
        let me = pthread_self()
        if let owner = writerThread.withLock({ $0 }), pthread_equal(owner, me) != 0 {
            throw SQLError(kind: .other, message: "a write was started inside another write on the same database (it would wait for itself)")
        }
        guard writerSlot.wait(timeout: deadline) == .success else {
            throw SQLError(
                kind: .unavailable,
                message: "the writer connection to PostgreSQL at \(PostgresErrors.endpoint(location)) stayed busy for \(acquireTimeout) (a slow statement holds it)")
        }
        writerThread.withLock { $0 = me }
        defer {
            writerThread.withLock { $0 = nil }
            writerSlot.signal()
        }
        return try body(writer)
    }

    private func withReader<T>(_ body: (PostgresLane) throws -> T) throws -> T {
        guard readerSlots.wait(timeout: deadline) == .success else {
            throw SQLError(
                kind: .unavailable,
                message: "all \(readers.count) reader connections to PostgreSQL at \(PostgresErrors.endpoint(location)) stayed busy for \(acquireTimeout) (slow statements hold them)")
        }
        let index = freeReaders.withLock { $0.removeLast() }
        defer {
            freeReaders.withLock { $0.append(index) }
            readerSlots.signal()
        }
        return try body(readers[index])
    }

    /// Runs `body` on the writer in one READ COMMITTED transaction, not retried: for the
    /// migrations, which serialise themselves with an advisory lock and must see what
    /// another migrator committed while they waited for it.
    func migrationTransaction<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        try withWriter { writer in
            try writer.run { c in
                try c.executeRaw("BEGIN ISOLATION LEVEL READ COMMITTED")
                do {
                    let r = try body(c)
                    var noLock: Int64?
                    try commit(c, unlocking: &noLock)
                    return r
                } catch {
                    if !c.connectionLost { _ = try? c.executeRaw("ROLLBACK") }
                    throw error
                }
            }
        }
    }

    // MARK: - Transactions

    private func transaction<T>(_ lane: PostgresLane, write: Bool, lock: Int64? = nil, _ body: (StoreDB) throws -> T) throws -> T {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try lane.run { c in
                    let begin = write ? "BEGIN ISOLATION LEVEL SERIALIZABLE" : "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
                    // The advisory lock still to release (COMMIT releases it in the same round trip).
                    var held: Int64?
                    if let lock {
                        try Self.lock(lock, thenRun: begin, on: c)
                        held = lock
                    } else {
                        try c.executeUnanswered(begin)  // settled with the first statement
                    }
                    do {
                        let r = try body(StoreDB(connection: c, bindings: bindingsSlot))
                        // Row code that caught a serialization failure cannot have finished
                        // its work: the transaction is aborted, so the closure runs again.
                        if let f = c.firstFailure, f.kind == .serialization { throw f }
                        try commit(c, unlocking: &held)
                        return r
                    } catch {
                        if !c.connectionLost { _ = try? c.executeRaw("ROLLBACK") }
                        if let key = held { Self.unlock(key, on: c) }
                        if let f = c.firstFailure, f.kind == .serialization { throw RetryableFailure(error: f) }
                        throw error
                    }
                }
            } catch let retry as RetryableFailure {
                guard write, attempt < Self.maximumWriteAttempts else {
                    throw SQLError(
                        kind: .unavailable,
                        message: "a \(write ? "write" : "read") kept conflicting with other writers (\(attempt) attempt(s); last: \(retry.error.message))")
                }
                // A short, growing, jittered pause, so writers that collided do not collide
                // again in lockstep (several daemons write the same chain head).
                usleep(useconds_t(Int.random(in: 1...Self.retryPauseMicroseconds) * attempt))
            }
        }
    }

    /// Takes the session-level advisory lock `key` and sends `begin` behind it, in one
    /// round trip. If the lock was not taken, a transaction that began all the same is
    /// rolled back; if BEGIN failed, the lock is released.
    private static func lock(_ key: Int64, thenRun begin: String, on c: PostgresConnection) throws(SQLError) {
        let answers = c.pipelined(["SELECT 1 AS locked FROM pg_advisory_lock(\(key))", begin])
        if case .failure(let e) = answers[0] {
            if case .success = answers[1], !c.connectionLost { _ = try? c.executeRaw("ROLLBACK") }
            throw e
        }
        if case .failure(let e) = answers[1] {
            unlock(key, on: c)
            throw e
        }
    }

    /// Releases a session-level advisory lock after the transaction ended. If the unlock
    /// does not go through, the connection is given up, which releases it too: a lock left
    /// behind on a kept connection would stop every other daemon's writers.
    private static func unlock(_ key: Int64, on c: PostgresConnection) {
        guard !c.connectionLost else { return }  // the server released it with the session
        settle(unlocking: c.pipelined([unlockSQL(key)])[0], on: c)
    }

    private static func unlockSQL(_ key: Int64) -> String { "SELECT pg_advisory_unlock(\(key)) AS released" }

    /// An unlock's answer: anything but `true` gives the connection up.
    private static func settle(unlocking answer: Result<(command: String, row: SQLRow?), SQLError>, on c: PostgresConnection) {
        let released = (try? answer.get())?.row?.value("released") == .integer(1)
        if !released && !c.connectionLost { c.abandon() }
    }

    /// COMMIT, settling every statement still in flight first. PostgreSQL answers COMMIT
    /// of a transaction that an earlier failure aborted with ROLLBACK (and no error): that
    /// is an error here, nothing of it was kept.
    ///
    /// A lock in `held` is released by a statement sent right behind the COMMIT (one round
    /// trip for both); `held` is cleared once it went, whatever its answer. An unlock that
    /// does not answer `true` gives the connection up, as in `unlock`.
    private func commit(_ c: PostgresConnection, unlocking held: inout Int64?) throws {
        try c.settle()
        let tag: String
        if let key = held {
            held = nil
            let answers = c.pipelined(["COMMIT", Self.unlockSQL(key)])
            Self.settle(unlocking: answers[1], on: c)
            tag = try answers[0].get().command
        } else {
            tag = try c.executeRaw("COMMIT")
        }
        guard tag == "COMMIT" else {
            let cause = c.firstFailure.map { " (\($0.message))" } ?? ""
            throw SQLError(kind: .other, message: "the transaction was rolled back by PostgreSQL: a statement in it had failed\(cause)")
        }
    }

    private struct RetryableFailure: Error {
        let error: SQLError
    }
}

/// How a lane opens a connection: the same settings for every connection of a database.
final class PostgresConnector: Sendable {
    let location: PostgresLocation
    /// The client's deadline for an answer: the server's statement_timeout plus a grace,
    /// so the server cancels a slow statement itself (the connection stays usable) and only
    /// a server that does not answer at all (a partition, a hung host) costs the connection.
    let statementTimeout: TimeAmount
    private let serverStatementTimeoutMilliseconds: Int64
    private static let clientDeadlineGrace: TimeAmount = .seconds(5)
    /// Everything but the password, which stays in guarded memory and is copied out only
    /// for the moment a connection is made.
    private let configuration: PostgresNIO.PostgresConnection.Configuration
    private let password: SecretBytes?
    private let group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    private let ids = Atomic<Int>(0)
    /// postgres-nio's own log lines (which may show statements and their arguments) go
    /// nowhere; failures reach the daemon's log as `SQLError`s.
    let logger = Logger(label: "latchkey.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    init(location: PostgresLocation, password: SecretBytes?, statementTimeout: Duration, connectTimeout: Duration) throws(SQLError) {
        self.location = location
        let nanoseconds = Int64(statementTimeout.components.seconds) * 1_000_000_000 + statementTimeout.components.attoseconds / 1_000_000_000
        serverStatementTimeoutMilliseconds = max(1, nanoseconds / 1_000_000)
        self.statementTimeout = .nanoseconds(nanoseconds) + Self.clientDeadlineGrace
        self.password = password
        var config = PostgresNIO.PostgresConnection.Configuration(
            host: location.host, port: location.port, username: location.user, password: nil, database: location.database,
            tls: try PostgresTLS.configuration(for: location))
        let connectSeconds = location.connectTimeoutSeconds.map { Int64($0) } ?? connectTimeout.components.seconds
        config.options.connectTimeout = .seconds(connectSeconds)
        config.options.additionalStartupParameters = [("application_name", location.applicationName ?? "latchkey")]
        configuration = config
    }

    /// A connection that only LISTENs (no statements of the store run on it).
    func connectForListening() async throws -> PostgresNIO.PostgresConnection {
        var config = configuration
        config.password = password.map { p in p.withUnsafeBytes { String(decoding: $0, as: UTF8.self) } }
        let id = ids.wrappingAdd(1, ordering: .relaxed).newValue
        return try await PostgresNIO.PostgresConnection.connect(on: group.next(), configuration: config, id: id, logger: logger)
    }

    /// A new connection with the session settings the store relies on.
    func connect() throws(SQLError) -> PostgresNIO.PostgresConnection {
        let id = ids.wrappingAdd(1, ordering: .relaxed).newValue
        let connection: PostgresNIO.PostgresConnection
        do {
            var config = configuration
            config.password = password.map { p in p.withUnsafeBytes { String(decoding: $0, as: UTF8.self) } }
            connection = try PostgresNIO.PostgresConnection.connect(on: group.next(), configuration: config, id: id, logger: logger).wait()
        } catch {
            throw PostgresErrors.classify(error, location: location).error
        }
        let c = PostgresConnection(connection: connection, location: location, statementTimeout: statementTimeout, logger: logger)
        do throws(SQLError) {
            try c.executeRaw("SET synchronous_commit = on")
            try c.executeRaw("SET statement_timeout = \(serverStatementTimeoutMilliseconds)")
            guard try c.rows("SHOW synchronous_commit", []).first?.value("synchronous_commit") == .text("on") else {
                throw SQLError(kind: .unavailable, message: "PostgreSQL at \(PostgresErrors.endpoint(location)) did not accept synchronous_commit = on")
            }
        } catch {
            let closed: EventLoopFuture<Void> = connection.close()
            _ = try? closed.wait()
            throw error
        }
        return connection
    }
}

/// One connection slot: opened on first use, dropped after it failed, used by one caller
/// at a time (the database hands a lane to one closure).
final class PostgresLane: Sendable {
    private let connector: PostgresConnector
    private let live = Mutex<PostgresNIO.PostgresConnection?>(nil)

    init(connector: PostgresConnector) {
        self.connector = connector
    }

    /// Runs `body` with the lane's connection (opened if need be); drops the connection
    /// when it broke, so the next call opens a new one. A kept connection found broken
    /// before any statement on it went through (the server restarted while it sat idle) is
    /// replaced once at once: nothing of the transaction reached the server.
    func run<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        var attempt = 0
        while true {
            attempt += 1
            let existing = live.withLock { $0 }
            let connection: PostgresNIO.PostgresConnection
            let reused: Bool
            if let existing, !existing.isClosed {
                connection = existing
                reused = true
            } else {
                connection = try connector.connect()
                live.withLock { $0 = connection }
                reused = false
            }
            let c = PostgresConnection(
                connection: connection, location: connector.location, statementTimeout: connector.statementTimeout, logger: connector.logger)
            do {
                let result = try body(c)
                if c.connectionLost { drop(connection) }
                return result
            } catch {
                guard c.connectionLost else { throw error }
                drop(connection)
                if reused && c.statementsAnswered == 0 && attempt == 1 { continue }
                throw error
            }
        }
    }

    private func drop(_ connection: PostgresNIO.PostgresConnection) {
        live.withLock { if $0 === connection { $0 = nil } }
        Self.close(connection, wait: false)
    }

    func close(wait: Bool = true) {
        guard let c = live.withLock({ conn in defer { conn = nil }; return conn }) else { return }
        Self.close(c, wait: wait)
    }

    /// Closes a connection; without `wait`, it is kept alive until the close completes
    /// (postgres-nio requires a connection to be closed before it is released).
    private static func close(_ c: PostgresNIO.PostgresConnection, wait: Bool) {
        let closed: EventLoopFuture<Void> = c.close()
        if wait {
            _ = try? closed.wait()
        } else {
            closed.whenComplete { _ in withExtendedLifetime(c) {} }
        }
    }
}
