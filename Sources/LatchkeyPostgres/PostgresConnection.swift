import LatchkeyStore
import Foundation
import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// The engine connection handed to row code for one `PostgresDatabase.read`/`write`
/// closure: one postgres-nio connection inside one transaction, used only from the lane's
/// thread (never an event loop: each statement blocks that thread on its future).
///
/// It remembers the first failure of the transaction, because after one PostgreSQL
/// refuses every further statement until the rollback: a serialization failure anywhere
/// makes the whole closure run again, whatever the row code did with the error.
final class PostgresConnection: SQLConnection {
    let engine = SQLEngine.postgresql
    private let connection: PostgresNIO.PostgresConnection
    private let location: PostgresLocation
    private let statementTimeout: TimeAmount
    private let logger: Logger
    /// How many rows `forEachRow` fetches from its cursor at a time.
    static let streamBatchRows = 256
    /// The first failure in this transaction (`serialization` → retry the closure).
    private(set) var firstFailure: SQLError?
    /// Whether the connection broke (the lane must drop it).
    private(set) var connectionLost = false
    /// How many statements the server answered (with rows or an error of its own).
    private(set) var statementsAnswered = 0

    init(connection: PostgresNIO.PostgresConnection, location: PostgresLocation, statementTimeout: TimeAmount, logger: Logger) {
        self.connection = connection
        self.location = location
        self.statementTimeout = statementTimeout
        self.logger = logger
    }

    @discardableResult
    func execute(_ sql: String, _ arguments: SQLArguments) throws(SQLError) -> Int {
        try run(sql, arguments).metadata.rows ?? 0
    }

    func rows(_ sql: String, _ arguments: SQLArguments) throws(SQLError) -> [SQLRow] {
        let result = try run(sql, arguments)
        var out: [SQLRow] = []
        out.reserveCapacity(result.rows.count)
        for r in result.rows { out.append(try PostgresValues.row(r)) }
        return out
    }

    /// Streams a SELECT through a cursor of the current transaction, `streamBatchRows` at a
    /// time, so a long result (the audit chain) is never held whole; stops when `body` says
    /// so. The DECLARE and the first FETCH go out together and the CLOSE with the next
    /// statement, so a one-row lookup costs one round trip. Other statements (INSERT …
    /// RETURNING) cannot be a cursor's query: their rows are read whole.
    func forEachRow(_ sql: String, _ arguments: SQLArguments, _ body: (SQLRow) throws -> Bool) throws {
        guard Self.isQuery(sql) else {
            for row in try rows(sql, arguments) where try !body(row) { return }
            return
        }
        cursorCount += 1
        let cursor = "latchkey_rows_\(cursorCount)"
        let declare = try start(try query("DECLARE \(cursor) NO SCROLL CURSOR FOR " + sql, arguments))
        let firstFetch = try start(PostgresQuery(unsafeSQL: "FETCH FORWARD \(Self.streamBatchRows) FROM \(cursor)"))
        do { _ = try finish(declare) } catch {
            _ = try? finish(firstFetch)  // settled, so its deadline cannot fire later
            throw error
        }
        var batch = try finish(firstFetch).rows
        defer { queueClose(cursor) }
        while true {
            for row in batch where try !body(try PostgresValues.row(row)) { return }
            if batch.count < Self.streamBatchRows { return }
            batch = try send(PostgresQuery(unsafeSQL: "FETCH FORWARD \(Self.streamBatchRows) FROM \(cursor)")).rows
        }
    }

    /// Runs a statement without arguments and without placeholder rewriting (migrations:
    /// function bodies hold `$` and `?` of their own).
    /// Returns the command tag's command ("COMMIT", or "ROLLBACK" for the COMMIT of an
    /// aborted transaction).
    @discardableResult
    func executeRaw(_ sql: String) throws(SQLError) -> String {
        try send(PostgresQuery(unsafeSQL: sql)).metadata.command
    }

    /// Sends statements without arguments back to back, then waits for each answer in
    /// turn: one round trip for all of them (PostgreSQL runs them in order). Each one's
    /// command tag, with its first row, or its failure.
    func pipelined(_ statements: [String]) -> [Result<(command: String, row: SQLRow?), SQLError>] {
        if connectionLost { return statements.map { _ in .failure(lostError) } }
        let sent = statements.map { launch(PostgresQuery(unsafeSQL: $0)) }
        settleUnansweredRecordingFailures()
        return sent.map { p in
            do {
                let result = try finish(p)
                return .success((result.metadata.command, try result.rows.first.map(PostgresValues.row)))
            } catch let e as SQLError {
                return .failure(e)
            } catch {
                return .failure(SQLError(kind: .other, message: "\(error)"))
            }
        }
    }

    /// Whether a statement may be a cursor's query (SELECT, VALUES, or a WITH … SELECT).
    static func isQuery(_ sql: String) -> Bool {
        let head = sql.drop(while: { $0.isWhitespace || $0 == "(" }).prefix(7).uppercased()
        return head.hasPrefix("SELECT") || head.hasPrefix("VALUES")
    }

    private var cursorCount = 0
    /// Statements sent without waiting (cursors' CLOSEs, SAVEPOINT, RELEASE); settled after
    /// the next statement is sent.
    private var unanswered: [Pending] = []

    private struct Pending {
        let future: EventLoopFuture<PostgresQueryResult>
        let deadline: Scheduled<Void>
        let timedOut: TimeoutFlag
    }

    private final class TimeoutFlag: Sendable {
        private let flag = Atomic<Bool>(false)
        func set() { flag.store(true, ordering: .relaxed) }
        var isSet: Bool { flag.load(ordering: .relaxed) }
    }

    /// The answer a statement is waited for on: postgres-nio's, or a failure of our own when
    /// the deadline passes or the connection was closed at the send. postgres-nio writes a
    /// statement to its channel without a promise for the write, so a statement sent as the
    /// connection closed (the server shut down between the lane's look at the connection
    /// and the send) is never answered: waiting on its own future would wait for good, and
    /// closing the connection at the deadline does nothing to a connection already closed.
    ///
    /// The answer holds postgres-nio's future, which holds the answer through its callback,
    /// until that future completes: a future postgres-nio never completes stays in memory
    /// (a few hundred bytes, once per lost connection) instead of being released
    /// unfulfilled, which NIO's debug builds trap on.
    private final class Answer: Sendable {
        let promise: EventLoopPromise<PostgresQueryResult>
        /// Never read: held only so that an unanswered future is never released.
        private let original: EventLoopFuture<PostgresQueryResult>
        private let settled = Atomic<Bool>(false)

        init(_ original: EventLoopFuture<PostgresQueryResult>) {
            self.original = original
            promise = original.eventLoop.makePromise(of: PostgresQueryResult.self)
            original.whenComplete { [self] in settle($0) }
        }
        /// Completes the promise the first time only (the three sources may all fire).
        func settle(_ result: Result<PostgresQueryResult, any Error>) {
            guard settled.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else { return }
            promise.completeWith(result)
        }
    }

    /// Our own answer's failure: postgres-nio had not answered by the deadline, or could
    /// not, its connection closed (`finish` tells the two apart by the deadline's flag).
    private struct Unanswered: Error {}

    private func query(_ sql: String, _ arguments: SQLArguments) throws(SQLError) -> PostgresQuery {
        let (text, count) = arguments.values.isEmpty ? (sql, 0) : PostgresPlaceholders.rewrite(sql)
        guard count == arguments.values.count else {
            let e = SQLError(kind: .other, message: "a statement has \(count) placeholders and \(arguments.values.count) arguments (in: \(sql.prefix(120)))")
            if firstFailure == nil { firstFailure = e }
            throw e
        }
        return PostgresQuery(unsafeSQL: text, binds: PostgresValues.bindings(arguments))
    }

    private func run(_ sql: String, _ arguments: SQLArguments) throws(SQLError) -> PostgresQueryResult {
        try send(try query(sql, arguments))
    }

    /// Sends one statement and blocks this (non event loop) thread until its answer.
    private func send(_ query: PostgresQuery) throws(SQLError) -> PostgresQueryResult {
        let pending = try start(query)
        return try finish(pending)
    }

    /// Queues a statement on the connection with its deadline: past `statementTimeout` the
    /// connection is closed (the statement cannot be trusted to finish) and it fails
    /// `.unavailable`. Earlier unanswered statements are settled once this one is
    /// on its way.
    private func start(_ query: PostgresQuery) throws(SQLError) -> Pending {
        if connectionLost { throw lostError }
        let pending = launch(query)
        settleUnansweredRecordingFailures()
        return pending
    }

    /// Settles the unanswered statements sent before the one just launched. One that
    /// failed has aborted the transaction (or lost the connection): the statement just
    /// sent fails too; the first failure is recorded in `firstFailure`.
    private func settleUnansweredRecordingFailures() {
        let earlier = unanswered
        unanswered = []
        for p in earlier { _ = try? finish(p) }
    }

    private var lostError: SQLError {
        SQLError(kind: .unavailable, message: "the connection to PostgreSQL at \(PostgresErrors.endpoint(location)) was lost")
    }

    private func launch(_ query: PostgresQuery) -> Pending {
        let conn = connection
        let timedOut = TimeoutFlag()
        let answer = Answer(conn.query(query, logger: logger))
        let deadline = conn.eventLoop.scheduleTask(in: statementTimeout) {
            timedOut.set()
            let closed: EventLoopFuture<Void> = conn.close()
            _ = closed
            answer.settle(.failure(Unanswered()))
        }
        // Runs on the loop right after the statement's write (tasks from one thread run in
        // order): a connection closed by then could not take the statement in. One taken
        // in before the close is failed or answered by postgres-nio, whichever comes first.
        conn.eventLoop.execute {
            if conn.isClosed { answer.settle(.failure(Unanswered())) }
        }
        return Pending(future: answer.promise.futureResult, deadline: deadline, timedOut: timedOut)
    }

    /// Sends a cursor's CLOSE without waiting for it (settled with the next statement).
    private func queueClose(_ cursor: String) {
        guard !connectionLost else { return }
        unanswered.append(launch(PostgresQuery(unsafeSQL: "CLOSE \(cursor)")))
    }

    /// Sends the statement and goes on: its answer is settled with the next statement's
    /// (a failure aborts the transaction, so that statement fails too, and COMMIT after
    /// `settle` would throw it).
    func executeUnanswered(_ sql: String) throws(SQLError) {
        if connectionLost { throw lostError }
        unanswered.append(launch(PostgresQuery(unsafeSQL: sql)))
    }

    private func finish(_ p: Pending) throws(SQLError) -> PostgresQueryResult {
        defer { p.deadline.cancel() }
        do {
            let result = try p.future.wait()
            statementsAnswered += 1
            return result
        } catch {
            var (e, lost) = error is Unanswered ? (lostError, true) : PostgresErrors.classify(error, location: location)
            if p.timedOut.isSet {
                e = SQLError(
                    kind: .unavailable,
                    message: "PostgreSQL at \(PostgresErrors.endpoint(location)) did not answer within \(statementTimeout.nanoseconds / 1_000_000_000) s")
                lost = true
            }
            if lost || connection.isClosed { connectionLost = true }
            if firstFailure == nil { firstFailure = e }
            throw e
        }
    }

    /// Gives the connection up: it is closed and the lane drops it. For a session state
    /// that could not be undone (an advisory lock whose unlock failed): the server ends
    /// the session, and with it everything the session held.
    func abandon() {
        connectionLost = true
        let closed: EventLoopFuture<Void> = connection.close()
        _ = closed
    }

    /// Settles the unanswered statements still in flight (before COMMIT answers, nothing
    /// is left behind).
    func settle() throws(SQLError) {
        let closes = unanswered
        unanswered = []
        for c in closes { _ = try finish(c) }
    }
}
