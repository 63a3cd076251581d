import Foundation
import LatchkeyAPI
import LatchkeyAudit
import LatchkeyClient
import LatchkeyCrypto
import LatchkeyServer
import LatchkeyStore
import Testing

/// The router's promise: every request but `/v1/health` — granted, refused by policy,
/// with a bad body, on an unknown path or with the wrong method — writes exactly one audit
/// row of its own, naming the endpoint's action and the refusal's code.
@Suite(.serialized) struct EveryRequestAuditedTests {
    struct Row: Equatable { var role: String; var action: String; var outcome: String; var reason: String? }

    /// Rows not written by the daemon for itself (session ends, retirements).
    static func requestRows(_ d: TestDaemon) async throws -> [Row] {
        try await d.daemon.vault.store.database.read { db in
            try SQLRow.fetchAll(db, sql: "SELECT actor_role, action, outcome, reason FROM audit WHERE actor_role != 'daemon' ORDER BY seq").map {
                Row(role: $0["actor_role"], action: $0["action"], outcome: $0["outcome"], reason: $0["reason"])
            }
        }
    }

    struct Case: Sendable {
        var name: String
        var method: String
        var path: String
        var body: String? = nil
        var bearer: String? = nil
        var uid: UInt32? = nil
        var status: Int
        /// The row it must leave; nil: none (health only).
        var action: String?
        var outcome: String = "granted"
        var reason: String? = nil
    }

    @Test func everyRequestButHealthWritesExactlyOneRow() async throws {
        let d = try await TestDaemon()
        let token: String = try await offPool {
            let c = try d.client()
            let _: ConnectionInfo = try c.call("POST", "/v1/connections", body: ConnectionRequest(name: "ghe", kind: "github-enterprise", url: "https://ghe.example.com"))
            let _: ProjectInfo = try c.call("POST", "/v1/projects", body: ProjectRequest(name: "web", connection: "ghe", repo: "acme/web"))
            let _: DeployKeyInfo = try c.call("POST", "/v1/projects/web/deploy-keys", body: DeployKeyRequest())
            let s: SessionOpened = try c.call("POST", "/v1/sessions", body: SessionOpenRequest(project: "web", build: "b", grants: ["deploy-key"], uses: 2))
            return s.token
        }
        let cases: [Case] = [
            Case(name: "health", method: "GET", path: "/v1/health", status: 200, action: nil),
            Case(name: "list", method: "GET", path: "/v1/projects", status: 200, action: "project.list"),
            Case(name: "intake key", method: "GET", path: "/v1/intake-key", status: 200, action: "intake-key.show"),
            Case(name: "show missing", method: "GET", path: "/v1/projects/nope", status: 404, action: "project.show", outcome: "failed", reason: "not_found"),
            Case(name: "not an admin", method: "GET", path: "/v1/projects", uid: 4004, status: 403, action: "project.list", outcome: "denied", reason: "not_admin"),
            Case(name: "not a runner", method: "POST", path: "/v1/sessions", body: "{not json", uid: 4004, status: 403, action: "session.open", outcome: "denied", reason: "not_runner"),
            Case(name: "malformed body", method: "POST", path: "/v1/projects", body: "{not json", status: 400, action: "project.add", outcome: "failed", reason: "bad_request"),
            Case(name: "missing field", method: "POST", path: "/v1/projects", body: #"{"name":"x","connection":"ghe"}"#, status: 400, action: "project.add", outcome: "failed", reason: "bad_request"),
            Case(name: "unknown field", method: "POST", path: "/v1/connections", body: #"{"name":"x","kind":"gitlab","url":"https://x","admin":true}"#, status: 400, action: "connection.add", outcome: "failed", reason: "bad_request"),
            Case(name: "null version", method: "POST", path: "/v1/projects/web/deploy-keys/revoke", body: #"{"version":null}"#, status: 400, action: "deploy-key.revoke", outcome: "failed", reason: "bad_request"),
            Case(name: "null grace", method: "POST", path: "/v1/projects/web/deploy-keys/rotate", body: #"{"graceSeconds":null}"#, status: 400, action: "deploy-key.rotate", outcome: "failed", reason: "bad_request"),
            Case(name: "bidi build id", method: "POST", path: "/v1/sessions", body: #"{"project":"web","build":"b\u202e1","grants":["deploy-key"]}"#, status: 400, action: "session.open", outcome: "failed", reason: "bad_request"),
            Case(name: "conflict", method: "POST", path: "/v1/projects/web/deploy-keys", body: "{}", status: 409, action: "deploy-key.create", outcome: "failed", reason: "conflict"),
            Case(name: "bad version", method: "GET", path: "/v1/projects/web/deploy-keys/x", status: 400, action: "deploy-key.show", outcome: "failed", reason: "invalid"),
            Case(name: "unknown path", method: "GET", path: "/v1/nothing-here", status: 404, action: "request.refused", outcome: "failed", reason: "not_found"),
            Case(name: "wrong method", method: "PUT", path: "/v1/projects", status: 405, action: "request.refused", outcome: "failed", reason: "method_not_allowed"),
            Case(name: "no session", method: "GET", path: "/v1/session/deploy-key", status: 401, action: "secret.release", outcome: "denied", reason: "no_session"),
            Case(name: "release", method: "GET", path: "/v1/session/deploy-key", bearer: token, status: 200, action: "secret.release"),
            Case(name: "last use", method: "GET", path: "/v1/session/deploy-key", bearer: token, status: 200, action: "secret.release"),
            Case(name: "used up", method: "GET", path: "/v1/session/deploy-key", bearer: token, status: 401, action: "secret.release", outcome: "denied", reason: "session_used_up"),
        ]
        for c in cases {
            let before = try await Self.requestRows(d)
            let r = try await offPool { curl(d.socketPath, c.method, c.path, body: c.body, bearer: c.bearer, uid: c.uid) }
            let after = try await Self.requestRows(d)
            #expect(r.status == c.status, "\(c.name): \(r.status) \(r.body)")
            let new = Array(after.dropFirst(before.count))
            if let action = c.action {
                #expect(new.count == 1, "\(c.name): \(new.count) rows: \(new)")
                #expect(new.last?.action == action, "\(c.name)")
                #expect(new.last?.outcome == c.outcome, "\(c.name)")
                #expect(new.last?.reason == c.reason, "\(c.name)")
                if c.status >= 400 {
                    let code = (json(r.body)["error"] as? [String: Any])?["code"] as? String
                    #expect(code == c.reason, "\(c.name): the answer's code is the row's reason")
                }
            } else {
                #expect(new.isEmpty, "\(c.name) wrote \(new)")
            }
        }
        await d.stop()
    }

    /// The daemon's request ids are its own: a client's `X-Request-Id` is kept in its own
    /// labelled column, never as the row's request id, and the chain (which hashes it
    /// only when present) still verifies — by the streaming check and the full verifier,
    /// and through an export read back.
    @Test func aClientsRequestIdIsKeptApartFromTheDaemonsOwn() async throws {
        let d = try await TestDaemon()
        let answers = try await offPool { () -> [UnixHTTPConnection.Answer] in
            let c = try UnixHTTPConnection(path: d.socketPath)
            return [
                try c.send(method: "GET", path: "/v1/projects", headers: [("X-Request-Id", "ci-job-42")]),
                try c.send(method: "GET", path: "/v1/projects", headers: [("X-Request-Id", "ci-job-42")]),
                try c.send(method: "GET", path: "/v1/projects", headers: [("X-Request-Id", String(repeating: "x", count: 65))]),
                try c.send(method: "GET", path: "/v1/projects"),
            ]
        }
        let ids = answers.compactMap { $0.header("x-request-id") }
        #expect(ids.count == 4 && Set(ids).count == 4 && !ids.contains("ci-job-42"), "\(ids)")
        let rows = try await d.daemon.vault.store.database.read { db in
            try SQLRow.fetchAll(db, sql: "SELECT request_id, client_request_id FROM audit WHERE action = 'project.list' ORDER BY seq").map {
                ($0["request_id"] as String?, $0["client_request_id"] as String?)
            }
        }
        #expect(rows.map(\.0) == ids)
        #expect(rows.map(\.1) == ["ci-job-42", "ci-job-42", nil, nil])
        let publicKey = d.daemon.vault.keyRing.auditSigning.publicKey
        let report = try AuditReader.verify(store: d.daemon.vault.store, publicKey: publicKey)
        #expect(report.isIntact, "\(report)")
        let export = try await offPool { curl(d.socketPath, "GET", "/v1/audit/export") }
        let contents = try AuditExport.read(Array(export.body.utf8))
        #expect(contents.records.filter { $0.entry.clientRequestID == "ci-job-42" }.count == 2)
        #expect(AuditVerifier.verify(records: contents.records, checkpoints: contents.checkpoints, publicKey: publicKey).isIntact)
        await d.stop()
    }

    /// Rows of requests the socket layer refused (`request.refused` with an adapter code).
    static let adapterCodes = ["body_too_large", "headers_too_large", "request_timeout", "bad_http"]

    struct AdapterRow: Sendable {
        var uid: UInt32?
        var outcome: String
        var reason: String?
        var requestID: String?
    }

    static func adapterRows(_ d: TestDaemon) async throws -> [AdapterRow] {
        try await d.daemon.vault.store.database.read { db in
            try SQLRow.fetchAll(db, sql: "SELECT actor_uid, outcome, reason, request_id FROM audit WHERE action = 'request.refused' ORDER BY seq").compactMap {
                row -> AdapterRow? in
                let reason: String? = row["reason"]
                guard adapterCodes.contains(reason ?? "") else { return nil }
                return AdapterRow(uid: (row["actor_uid"] as Int64?).map { UInt32($0) }, outcome: row["outcome"], reason: reason, requestID: row["request_id"])
            }
        }
    }

    /// Waits (bounded) until `count` adapter rows are there: they are written without
    /// holding up the answer, which the adapter sends from its event loop.
    static func awaitAdapterRows(_ d: TestDaemon, count: Int) async throws -> [AdapterRow] {
        var rows = try await adapterRows(d)
        for _ in 0..<200 where rows.count < count {
            try await Task.sleep(for: .milliseconds(50))
            rows = try await adapterRows(d)
        }
        return rows
    }

    /// The four refusals the NIO adapter makes before a request reaches the router — 413,
    /// 431, 408 and 400 bad_http — write one `request.refused` row each, failed with the
    /// answer's code and the connection's peer, like every other request.
    @Test func refusalsBeforeRoutingWriteExactlyOneRowEach() async throws {
        var limits = ServerLimits()
        limits.maxBodyBytes = 16
        limits.maxHeaderCount = 4
        let d = try await TestDaemon(limits: limits)
        let cases: [(code: String, status: Int, bytes: String)] = [
            ("body_too_large", 413, "POST /v1/projects HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n{\"name\":\"aaaaaa\"}"),
            ("headers_too_large", 431, "GET /v1/projects HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n"),
            ("request_timeout", 408, "GET /v1/projects HTTP/1.1\r\nHo"),
            ("bad_http", 400, "GET /v1/projects HTTP/1.1\r\nBad Header\r\n\r\n"),
        ]
        for (i, c) in cases.enumerated() {
            let answer = try await offPool { d.raw(Array(c.bytes.utf8)) }
            #expect(answer.hasPrefix("HTTP/1.1 \(c.status)") && answer.contains("\"\(c.code)\""), "\(c.code): \(answer)")
            let rows = try await Self.awaitAdapterRows(d, count: i + 1)
            #expect(rows.count == i + 1, "\(c.code): \(rows.count) adapter rows after \(i + 1) refusals")
            guard let row = rows.last else { continue }
            #expect(row.reason == c.code && row.outcome == "failed", "\(c.code): \(row)")
            #expect(row.uid == getuid(), "the connection's peer is named")
            if c.status != 408 {
                #expect(answer.lowercased().contains("x-request-id: \(row.requestID ?? "-")"), "the answer names the row's request id")
            }
        }
        // No request was counted twice (the 408's cut-off head is not also a bad_http).
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await Self.adapterRows(d).map(\.reason) == cases.map(\.code))
        await d.stop()
    }

    /// A flood of malformed requests from one uid is bounded like every refusal: past the
    /// uid's rows for the second, they are counted into `refusal.summary` rows, and the
    /// rows and counts together account for every one.
    @Test func aFloodOfRefusalsBeforeRoutingIsAggregated() async throws {
        var limits = ServerLimits()
        limits.refusalRowsPerSecond = 3
        let d = try await TestDaemon(limits: limits)
        let flood = 40
        let bad = Array("NOT HTTP AT ALL\r\n\r\n".utf8)
        let answers = try await offPool { (0..<flood).map { _ in d.raw(bad) } }
        #expect(answers.allSatisfy { $0.hasPrefix("HTTP/1.1 400") && $0.contains("bad_http") }, "every one is still answered")
        try await Task.sleep(for: .milliseconds(1100))
        await d.daemon.vault.flushRefusalSummaries(force: true)
        var own = try await Self.adapterRows(d)
        var counted = 0
        for _ in 0..<100 {
            own = try await Self.adapterRows(d)
            let summaries = try await d.daemon.vault.store.database.read { db in
                try String.fetchAll(db, sql: "SELECT reason FROM audit WHERE action = 'refusal.summary' AND reason LIKE '%(request.refused)%'")
            }
            counted = summaries.compactMap { $0.split(separator: " ").first.flatMap { Int($0) } }.reduce(0, +)
            #expect(summaries.allSatisfy { $0.contains("refusals of bad_http (request.refused) from uid \(getuid()) in the last second") }, "\(summaries)")
            if own.count + counted == flood { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(own.count + counted == flood, "own rows \(own.count), counted in summaries \(counted)")
        #expect(own.count < flood && counted > 0, "the flood was aggregated")
        await d.stop()
    }

    /// A 405 names the methods the path has, in `Allow`.
    @Test func aWrongMethodIsAnswered405WithAllow() async throws {
        let d = try await TestDaemon()
        let answer = try await offPool { () -> UnixHTTPConnection.Answer in
            let c = try UnixHTTPConnection(path: d.socketPath)
            return try c.send(method: "PUT", path: "/v1/projects/web")
        }
        #expect(answer.status == 405)
        #expect(answer.header("allow") == "PATCH, GET, DELETE")
        await d.stop()
    }
}
