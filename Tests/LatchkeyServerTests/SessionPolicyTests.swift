import Foundation
import LatchkeyAPI
import LatchkeyClient
import Testing

/// Identities as the kernel reports them: the tests run as root and call the daemon as
/// other uids through setpriv, so SO_PEERCRED is the real thing.
let adminUID: UInt32 = 0, auditorUID: UInt32 = 4001, runnerUID: UInt32 = 4002, buildUID: UInt32 = 4003, strangerUID: UInt32 = 4004

let matrixPolicy = """
    version: 1
    admins: { uids: [0] }
    auditors: { uids: [4001] }
    runners:
      - name: ci
        who: { uids: [4002] }
        projects: ["web-*"]
        grants: [deploy-key, token]
        max_ttl: 10m
        max_uses: 3
        builds: { uids: [4003] }
    """

@Suite(.serialized) struct SessionPolicyTests {
    /// Admin sets up a project with a key and a token.
    func prepare(_ d: TestDaemon) throws {
        let c = try d.client()
        let _: ConnectionInfo = try c.call("POST", "/v1/connections", body: ConnectionRequest(name: "ghe", kind: "github-enterprise", url: "https://ghe.example.com"))
        let _: ProjectInfo = try c.call("POST", "/v1/projects", body: ProjectRequest(name: "web-shop", connection: "ghe", repo: "acme/shop"))
        let _: ProjectInfo = try c.call("POST", "/v1/projects", body: ProjectRequest(name: "api", connection: "ghe", repo: "acme/api"))
        let _: DeployKeyInfo = try c.call("POST", "/v1/projects/web-shop/deploy-keys", body: DeployKeyRequest())
    }

    func open(_ d: TestDaemon, project: String = "web-shop", ttl: Int = 300, uses: Int = 3, grants: String = #"["deploy-key"]"#, uid: UInt32 = runnerUID)
        -> (Int, [String: Any])
    {
        let r = curl(d.socketPath, "POST", "/v1/sessions",
            body: #"{"project":"\#(project)","build":"b1","grants":\#(grants),"ttlSeconds":\#(ttl),"uses":\#(uses)}"#, uid: uid)
        return (r.status, json(r.body))
    }

    func code(_ body: String) -> String { (json(body)["error"] as? [String: Any])?["code"] as? String ?? "" }

    @Test func eachRoleMayDoExactlyWhatThePolicySays() async throws {
        let d = try await TestDaemon(policy: matrixPolicy)
        try await offPool {
            try prepare(d)
            let s = d.socketPath
            // Admin actions.
            #expect(curl(s, "GET", "/v1/connections", uid: adminUID).status == 200)
            #expect(curl(s, "GET", "/v1/connections", uid: auditorUID).status == 403)
            #expect(curl(s, "GET", "/v1/connections", uid: runnerUID).status == 403)
            #expect(curl(s, "GET", "/v1/connections", uid: buildUID).status == 403)
            #expect(curl(s, "POST", "/v1/master-key/rotate", uid: strangerUID).status == 403)
            // Auditor actions.
            #expect(curl(s, "GET", "/v1/audit?limit=5", uid: auditorUID).status == 200)
            #expect(curl(s, "GET", "/v1/audit?limit=5", uid: adminUID).status == 403)
            #expect(curl(s, "GET", "/v1/audit/export", uid: runnerUID).status == 403)
            // Runner actions, capped by the policy: more is refused, not cut.
            #expect(open(d, uid: adminUID).0 == 403)
            #expect(open(d, uid: buildUID).0 == 403)
            let outside = curl(s, "POST", "/v1/sessions", body: #"{"project":"api","build":"b","grants":["deploy-key"]}"#, uid: runnerUID)
            #expect(outside.status == 403 && code(outside.body) == "project_not_allowed")
            let long = curl(s, "POST", "/v1/sessions", body: #"{"project":"web-shop","build":"b","grants":["deploy-key"],"ttlSeconds":3600}"#, uid: runnerUID)
            #expect(long.status == 403 && code(long.body) == "ttl_too_long")
            let many = curl(s, "POST", "/v1/sessions", body: #"{"project":"web-shop","build":"b","grants":["deploy-key"],"uses":4}"#, uid: runnerUID)
            #expect(many.status == 403 && code(many.body) == "too_many_uses")
            let (status, session) = open(d)
            #expect(status == 201)
            let token = session["token"] as? String ?? ""
            // Build actions: only the build uid redeems.
            for uid in [runnerUID, adminUID, strangerUID, auditorUID] {
                let r = curl(s, "GET", "/v1/session/deploy-key", bearer: token, uid: uid)
                #expect(r.status == 403 && code(r.body) == "peer_not_allowed", "uid \(uid)")
            }
            let key = curl(s, "GET", "/v1/session/deploy-key", bearer: token, uid: buildUID)
            #expect(key.status == 200 && key.body.contains("BEGIN OPENSSH PRIVATE KEY"))
            let noGrant = curl(s, "GET", "/v1/session/token", bearer: token, uid: buildUID)
            #expect(noGrant.status == 403 && code(noGrant.body) == "grant_missing")
            #expect(curl(s, "GET", "/v1/session/deploy-key", bearer: "lks_" + String(repeating: "A", count: 43), uid: buildUID).status == 401)
            #expect(curl(s, "GET", "/v1/session/deploy-key", uid: buildUID).status == 401)
            // Every denial above left a denied row with its reason code.
            let denied = try auditRows(d, "/v1/audit?outcome=denied&limit=1000")
            let codes = Set(denied.compactMap(\.reason))
            #expect(codes.isSuperset(of: ["not_admin", "not_auditor", "not_runner", "project_not_allowed", "ttl_too_long", "too_many_uses", "peer_not_allowed", "grant_missing", "invalid_session", "no_session"]), "\(codes)")
        }
        await d.stop()
    }

    @Test func sessionsEndByUsesTTLCloseAndRevocation() async throws {
        let d = try await TestDaemon(policy: matrixPolicy)
        try await offPool {
            try prepare(d)
            let s = d.socketPath
            // Used up: three uses, then refused.
            let (_, a) = open(d, uses: 3)
            let ta = a["token"] as? String ?? ""
            for _ in 0..<3 { #expect(curl(s, "GET", "/v1/session/deploy-key", bearer: ta, uid: buildUID).status == 200) }
            #expect(curl(s, "GET", "/v1/session/deploy-key", bearer: ta, uid: buildUID).status == 401)
            // Expired.
            let (_, b) = open(d, ttl: 1)
            Thread.sleep(forTimeInterval: 1.3)
            let expired = curl(s, "GET", "/v1/session/deploy-key", bearer: b["token"] as? String ?? "", uid: buildUID)
            #expect(expired.status == 401 && code(expired.body) == "session_expired")
            // Still so once housekeeping has removed it (it used to answer invalid_session
            // then, so the code depended on when housekeeping ran).
            let (_, b2) = open(d, ttl: 1)
            Thread.sleep(forTimeInterval: 1.3)
            let swept = DispatchSemaphore(value: 0)
            Task {
                await d.daemon.vault.housekeep()
                swept.signal()
            }
            swept.wait()  // a plain thread (offPool), not the cooperative pool
            let late = curl(s, "GET", "/v1/session/deploy-key", bearer: b2["token"] as? String ?? "", uid: buildUID)
            #expect(late.status == 401 && code(late.body) == "session_expired", "\(late.body)")
            // Closed by its runner (not by another runner uid).
            let (_, c) = open(d)
            let id = c["id"] as? String ?? ""
            #expect(curl(s, "DELETE", "/v1/sessions/\(id)", uid: strangerUID).status == 403)
            #expect(curl(s, "DELETE", "/v1/sessions/\(id)", uid: runnerUID).status == 200)
            #expect(curl(s, "GET", "/v1/session/deploy-key", bearer: c["token"] as? String ?? "", uid: buildUID).status == 401)
            // The key revoked mid-session.
            let (_, e) = open(d)
            #expect(curl(s, "POST", "/v1/projects/web-shop/deploy-keys/revoke", body: "{}", uid: adminUID).status == 200)
            #expect(curl(s, "GET", "/v1/session/deploy-key", bearer: e["token"] as? String ?? "", uid: buildUID).status == 401)
            // The audit log has each end with its reason.
            let ends = try auditRows(d, "/v1/audit?action=session.end&limit=100")
            let reasons = Set(ends.compactMap(\.reason))
            #expect(reasons.isSuperset(of: ["used-up", "expired", "key-revoked"]), "\(reasons)")
        }
        await d.stop()
    }

    @Test func concurrentRedeemsNeverExceedTheUseCount() async throws {
        let d = try await TestDaemon(policy: matrixPolicy)
        let token: String = try await offPool {
            try prepare(d)
            return open(d, uses: 3).1["token"] as? String ?? ""
        }
        let socket = d.socketPath
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<20 {
                group.addTask { try await offPool { curl(socket, "GET", "/v1/session/deploy-key", bearer: token, uid: buildUID).status } }
            }
            var out: [Int] = []
            for try await s in group { out.append(s) }
            return out
        }
        #expect(statuses.filter { $0 == 200 }.count == 3, "\(statuses.sorted())")
        // The first uses are answered from the event loop, the last and the refusals by
        // the checked path: every redeem has exactly one row either way.
        let rows = try await offPool { try auditRows(d, "/v1/audit?action=secret.release&limit=100") }
        #expect(rows.count == 20)
        #expect(rows.filter { $0.outcome == "granted" }.count == 3)
        await d.stop()
    }

    @Test func aBrokenReloadKeepsThePolicyAndAGoodOneAppliesToNewSessions() async throws {
        let d = try await TestDaemon(policy: matrixPolicy)
        let file = d.policiesDirectory + "/test.yaml"
        try await offPool { try prepare(d) }
        try "version: 1\nrunners: [ oops\n".write(toFile: file, atomically: true, encoding: .utf8)
        await d.daemon.vault.reloadPolicy()
        try await offPool {
            #expect(open(d).0 == 201, "the previous policy stays in force")
            let reloads = try auditRows(d, "/v1/audit?action=policy.reload&limit=10")
            #expect(reloads.last?.outcome == "failed")
        }
        try matrixPolicy.replacingOccurrences(of: #"["web-*"]"#, with: #"["web-*", "api"]"#)
            .write(toFile: file, atomically: true, encoding: .utf8)
        await d.daemon.vault.reloadPolicy()
        try await offPool {
            #expect(open(d, project: "api").0 != 403, "the new rule applies")
        }
        await d.stop()
    }
}

/// The audit log as the auditor uid reads it.
func auditRows(_ d: TestDaemon, _ path: String) throws -> [AuditRow] {
    let r = curl(d.socketPath, "GET", path, uid: auditorUID)
    return try JSONDecoder().decode([AuditRow].self, from: Data(r.body.utf8))
}
