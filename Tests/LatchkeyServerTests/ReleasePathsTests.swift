import Foundation
import LatchkeyAPI
import LatchkeyClient
import LatchkeyServer
import LatchkeyStore
import NIOCore
import NIOEmbedded
import Testing

/// The event-loop fast path and the checked path decide a release with the same
/// function: the fast path answers a release only when no async step is needed and
/// declines everything else untouched (no use taken, no row), and the checked path then
/// answers it — so for every refusal the two cannot disagree, and a release answered
/// either way carries the same bytes and the same row.
@Suite(.serialized) struct ReleasePathsTests {
    struct Row: Equatable {
        var role: String, uid: Int64?, session: String?, action: String, connection: String?, project: String?, kind: String?
        var version: Int64?, outcome: String, reason: String?
    }

    static func row(_ d: TestDaemon, requestID: String) async throws -> [Row] {
        try await d.daemon.vault.store.database.read { db in
            try SQLRow.fetchAll(db, sql: "SELECT * FROM audit WHERE request_id = ? ORDER BY seq", arguments: [requestID]).map {
                Row(role: $0["actor_role"], uid: $0["actor_uid"], session: $0["session_id"], action: $0["action"], connection: $0["target_connection"],
                    project: $0["target_project"], kind: $0["target_kind"], version: $0["target_version"], outcome: $0["outcome"], reason: $0["reason"])
            }
        }
    }

    final class Counter: @unchecked Sendable {
        private var n = 0
        private let lock = NSLock()
        func next() -> Int { lock.withLock { n += 1; return n } }
    }

    @Test func bothPathsDecideAlikeThroughEveryRefusal() async throws {
        let d = try await TestDaemon()
        let open: @Sendable (_ grants: [String], _ uses: Int, _ ttl: Int64) throws -> String = { grants, uses, ttl in
            let c = try d.client()
            let s: SessionOpened = try c.call("POST", "/v1/sessions", body: SessionOpenRequest(project: "web", build: "b", grants: grants, ttlSeconds: ttl, uses: uses))
            return s.token
        }
        try await offPool {
            let c = try d.client()
            let _: ConnectionInfo = try c.call("POST", "/v1/connections", body: ConnectionRequest(name: "ghe", kind: "github-enterprise", url: "https://ghe.example.com"))
            let _: ProjectInfo = try c.call("POST", "/v1/projects", body: ProjectRequest(name: "web", connection: "ghe", repo: "acme/web"))
            let _: DeployKeyInfo = try c.call("POST", "/v1/projects/web/deploy-keys", body: DeployKeyRequest())
        }
        let router = d.daemon.vault.router()
        let loop = NIOAsyncTestingEventLoop()
        let ids = Counter()
        let me = getuid()
        func request(_ path: String, _ token: String?, uid: UInt32 = me) -> Request {
            Request(
                method: .GET, uri: path, headers: token.map { [(name: "Authorization", value: "Bearer \($0)")] } ?? [], body: ByteBuffer(),
                peer: PeerCredentials(pid: 1, uid: uid, gid: uid), requestID: "paths-\(ids.next())")
        }

        // A release answered on the loop and one answered by the checked path (the last
        // use, which must end the session) carry the same bytes and the same row.
        let two = try await offPool { try open(["deploy-key"], 2, 600) }
        let fastRequest = request("/v1/session/deploy-key", two)
        let fast = try #require(router.respondOnLoop(fastRequest, on: loop), "a plain release is answered on the loop")
        let fastAnswer = try await fast.get()
        let lastRequest = request("/v1/session/deploy-key", two)
        #expect(router.respondOnLoop(lastRequest, on: loop) == nil, "the last use needs an async step: declined")
        let checked = await router.respond(lastRequest)
        #expect(fastAnswer.status == 200 && checked.status == 200)
        #expect(fastAnswer.body == checked.body, "the same bytes from both paths")
        let fastRows = try await Self.row(d, requestID: fastRequest.requestID)
        let checkedRows = try await Self.row(d, requestID: lastRequest.requestID).filter { $0.role != "daemon" }
        #expect(fastRows.count == 1 && fastRows == checkedRows, "\(fastRows) vs \(checkedRows)")
        #expect(fastRows.first?.outcome == "granted" && fastRows.first?.version == 1)

        // Every refusal: the fast path declines with nothing taken; the checked path
        // answers the decision's code and writes it as the row's reason.
        // Housekeeping is stopped before the sessions open: it would end the 1 s session
        // once past its TTL, and the rotated one below, before the checks see them (on a
        // loaded machine, seconds can pass between two lines of this test).
        d.daemon.vault.stopHousekeeping()
        let keyOnly = try await offPool { try open(["deploy-key"], 5, 600) }
        let short = try await offPool { try open(["deploy-key"], 5, 1) }
        let pinnedV1 = try await offPool { try open(["deploy-key"], 5, 600) }
        let cases: [(String, Request, RefusalCode)] = [
            ("no token", request("/v1/session/deploy-key", nil), .noSession),
            ("unknown token", request("/v1/session/deploy-key", "lks_" + String(repeating: "A", count: 43)), .invalidSession),
            ("a peer the rule does not name", request("/v1/session/deploy-key", keyOnly, uid: 4004), .peerNotAllowed),
            ("a grant it was not given", request("/v1/session/token", keyOnly), .grantMissing),
            ("after its last use", request("/v1/session/deploy-key", two), .sessionUsedUp),
        ]
        // A rotation with a 1 s grace: once it has passed, the version is no longer usable
        // and the session pinned to it is refused — until housekeeping ends the sessions
        // holding it (with no grace they end at once: invalid_session), so housekeeping
        // is stopped for this test (above).
        try await offPool {
            let c = try d.client()
            let _: DeployKeyInfo = try c.call("POST", "/v1/projects/web/deploy-keys/rotate", body: DeployKeyRequest(graceSeconds: 1))
        }
        try await Task.sleep(for: .milliseconds(1100))
        let expired = [("past its TTL", request("/v1/session/deploy-key", short), RefusalCode.sessionExpired)]
        let revoked = [("its version retired", request("/v1/session/deploy-key", pinnedV1), RefusalCode.secretRevoked)]
        for (name, req, code) in cases + expired + revoked {
            let usesBefore = d.daemon.vault.sessions.all().map(\.uses).reduce(0, +)
            #expect(router.respondOnLoop(req, on: loop) == nil, "\(name): the fast path declines a refusal")
            #expect(d.daemon.vault.sessions.all().map(\.uses).reduce(0, +) == usesBefore, "\(name): declining takes no use")
            #expect(try await Self.row(d, requestID: req.requestID).isEmpty, "\(name): declining writes no row")
            let answer = await router.respond(req)
            #expect(answer.status == code.status, "\(name): \(answer.status)")
            let body = String(buffer: answer.body)
            #expect(body.contains("\"code\":\"\(code.rawValue)\""), "\(name): \(body)")
            let rows = try await Self.row(d, requestID: req.requestID).filter { $0.role != "daemon" }
            #expect(rows.count == 1 && rows.first?.reason == code.rawValue && rows.first?.outcome == "denied", "\(name): \(rows)")
            #expect(rows.first?.action == "secret.release")
        }
        try await loop.shutdownGracefully()
        await d.stop()
    }
}
