@testable import LatchkeyPostgres
import Dispatch
import Foundation
import LatchkeyStore
import LatchkeyTestSupport
import Synchronization
import Testing

/// A statement sent on a connection that closed under it (the server shut down between the
/// lane's look at the connection and the send) fails at once as a lost connection.
/// postgres-nio never answers such a statement: waiting on its future waited for good, and
/// in CI a daemon's audit writer did, after PostgreSQL restarted under load — that daemon
/// released nothing more and did not stop on SIGTERM.
@Suite(.enabled(if: PostgresServer.testsEnabled, Comment(rawValue: PostgresServer.skipMessage)))
struct PostgresUnansweredStatementTests {
    @Test func aStatementSentOnAClosedConnectionFailsAsLostAtOnce() throws {
        let server = try PostgresServer.shared()
        let location = try PostgresLocation(parsing: server.url(role: PostgresServer.ownerRole))
        let password = try PostgresPassword.resolve(
            for: location, passwordFile: nil, environment: ["PGPASSFILE": try server.passfile(role: PostgresServer.ownerRole)])
        let connector = try PostgresConnector(location: location, password: password, statementTimeout: .seconds(30), connectTimeout: .seconds(10))
        let raw = try connector.connect()
        try raw.close().wait()
        let connection = PostgresConnection(connection: raw, location: location, statementTimeout: connector.statementTimeout, logger: connector.logger)

        // On a thread of its own, so that a statement that is never answered fails this test
        // instead of holding the suite (the deadline is 35 s; the answer must come first).
        let outcome = Mutex<Result<String, SQLError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) let unchecked = connection
        Thread.detachNewThread {
            let r = Result { () throws(SQLError) -> String in try unchecked.executeRaw("SELECT 1") }
            outcome.withLock { $0 = r }
            done.signal()
        }
        guard done.wait(timeout: .now() + 10) == .success else {
            Issue.record("a statement on a closed connection was still waiting after 10 s")
            return
        }
        let result = try #require(outcome.withLock { $0 })
        guard case .failure(let e) = result else {
            Issue.record("a statement on a closed connection was answered: \(result)")
            return
        }
        #expect(e.kind == .unavailable, "\(e)")
        #expect(e.message.contains("was lost") && e.message.contains("127.0.0.1"), "\(e)")
        #expect(connection.connectionLost, "the lane drops the connection")
        #expect(connection.firstFailure != nil)
    }
}
