import Foundation
import LatchkeyAPI
import LatchkeyClient
@testable import LatchkeyServer
import Testing

/// A peer that can reach the sockets and tries to exhaust the daemon for the others,
/// and policy reloads against live sessions (#16 findings 11 and 12).
@Suite(.serialized) struct HostileNeighbourTests {
    func prepare(_ d: TestDaemon) throws {
        let c = try d.client()
        let _: ConnectionInfo = try c.call("POST", "/v1/connections", body: ConnectionRequest(name: "ghe", kind: "github-enterprise", url: "https://ghe.example.com"))
        let _: ProjectInfo = try c.call("POST", "/v1/projects", body: ProjectRequest(name: "web-shop", connection: "ghe", repo: "acme/shop"))
        let _: DeployKeyInfo = try c.call("POST", "/v1/projects/web-shop/deploy-keys", body: DeployKeyRequest())
    }

    func open(_ d: TestDaemon, grants: String = #"["deploy-key"]"#, uses: Int = 3) -> (status: Int, body: [String: Any]) {
        let r = curl(d.socketPath, "POST", "/v1/sessions", body: #"{"project":"web-shop","build":"b","grants":\#(grants),"ttlSeconds":300,"uses":\#(uses)}"#, uid: runnerUID)
        return (r.status, json(r.body))
    }

    func code(_ body: String) -> String { (json(body)["error"] as? [String: Any])?["code"] as? String ?? "" }

    /// Opens `count` connections to `socket` as `uid`, holds them `hold` seconds, and
    /// says how many the daemon left open (the rest it closed at accept or for idling).
    /// `send` is written on each first (e.g. half an agent frame).
    func hold(_ socket: String, count: Int, uid: UInt32, hold: Double, send: String = "") -> Int {
        let script = """
            import socket, sys, time, select
            path, count, hold, send = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), bytes.fromhex(sys.argv[4])
            conns = []
            for _ in range(count):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    s.connect(path)
                    if send: s.sendall(send)
                    conns.append(s)
                except OSError:
                    pass
            time.sleep(hold)
            alive = 0
            for s in conns:
                r, _, _ = select.select([s], [], [], 0)
                if not r: alive += 1
                else:
                    try:
                        if s.recv(1, socket.MSG_PEEK): alive += 1
                    except OSError:
                        pass
            print(alive)
            """
        let hex = send.utf8.map { String(format: "%02x", $0) }.joined()
        let r = run("setpriv", ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "/usr/bin/python3", "-c", script, socket, String(count), String(hold), hex])
        return Int(r.out.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    @Test func oneUidHoldingConnectionsStarvesNoOtherUidsHealthChecksOrReleases() async throws {
        var limits = ServerLimits()
        limits.maxConnections = 48
        limits.maxConnectionsPerUID = 16
        let d = try await TestDaemon(policy: matrixPolicy, limits: limits)
        try await offPool {
            try prepare(d)
            let token = open(d).body["token"] as? String ?? ""
            let socket = d.socketPath
            // uid 4004 tries to take every connection, and holds what it gets for 3 s…
            let flood = Thread {
                let alive = hold(socket, count: 60, uid: strangerUID, hold: 3)
                try? String(alive).write(toFile: d.directory + "/alive", atomically: true, encoding: .utf8)
            }
            flood.start()
            Thread.sleep(forTimeInterval: 1.5)
            // …meanwhile the other uids are served.
            #expect(curl(socket, "GET", "/v1/health", uid: buildUID).status == 200)
            #expect(curl(socket, "GET", "/v1/session/deploy-key", bearer: token, uid: buildUID).status == 200)
            #expect(curl(socket, "GET", "/v1/connections", uid: adminUID).status == 200)
            for _ in 0..<100 where !FileManager.default.fileExists(atPath: d.directory + "/alive") { Thread.sleep(forTimeInterval: 0.1) }
            let alive = Int((try? String(contentsOfFile: d.directory + "/alive", encoding: .utf8)) ?? "") ?? -1
            #expect(alive >= 1 && alive <= 16, "uid 4004 held \(alive) connections")
        }
        await d.stop()
    }

    @Test func agentSocketsCapConnectionsPerUidAndCloseSlowOnes() async throws {
        var limits = ServerLimits()
        limits.maxAgentConnectionsPerUID = 8
        limits.agentRequestTimeout = .seconds(1)
        let d = try await TestDaemon(policy: twoBuildsPolicy, limits: limits)
        try await offPool {
            try prepare(d)
            let mine = open(d).body["token"] as? String ?? ""
            let theirs = open(d).body["token"] as? String ?? ""
            let a = json(curl(d.socketPath, "POST", "/v1/session/agent", bearer: mine, uid: buildUID).body)["socketPath"] as? String ?? ""
            let b = json(curl(d.socketPath, "POST", "/v1/session/agent", bearer: theirs, uid: secondBuildUID).body)["socketPath"] as? String ?? ""
            // 4003 floods its own agent: at most 8 stay open, and only as long as they send
            // whole requests (each sent half a frame, so all are closed after 1 s).
            let flood = Thread {
                let alive = hold(a, count: 40, uid: buildUID, hold: 0.5, send: "\u{0}\u{0}")
                try? String(alive).write(toFile: d.directory + "/alive", atomically: true, encoding: .utf8)
            }
            flood.start()
            Thread.sleep(forTimeInterval: 0.2)
            // Another build's agent works meanwhile.
            let listed = run("setpriv", ["--reuid=\(secondBuildUID)", "--regid=\(secondBuildUID)", "--clear-groups", "ssh-add", "-l"],
                environment: ["SSH_AUTH_SOCK": b])
            #expect(listed.status == 0, "\(listed.err)")
            for _ in 0..<100 where !FileManager.default.fileExists(atPath: d.directory + "/alive") { Thread.sleep(forTimeInterval: 0.1) }
            let alive = Int((try? String(contentsOfFile: d.directory + "/alive", encoding: .utf8)) ?? "") ?? -1
            #expect(alive >= 1 && alive <= 8, "uid 4003 held \(alive) agent connections")
            #expect(hold(a, count: 3, uid: buildUID, hold: 2, send: "\u{0}\u{0}") == 0, "slow agent connections are closed")
            // And once they are gone, 4003 is served again.
            let again = run("setpriv", ["--reuid=\(buildUID)", "--regid=\(buildUID)", "--clear-groups", "ssh-add", "-l"], environment: ["SSH_AUTH_SOCK": a])
            #expect(again.status == 0, "\(again.err)")
        }
        await d.stop()
    }

    @Test func aBogusTokenFloodWritesBoundedAuditRows() async throws {
        var limits = ServerLimits()
        limits.refusalRowsPerSecond = 5
        let d = try await TestDaemon(policy: twoBuildsPolicy, limits: limits)
        let floodSize = 300
        let started = ContinuousClock.now
        try await offPool {
            try prepare(d)
            // 300 bogus tokens over one keep-alive connection, as fast as curl sends them.
            let urls = Array(repeating: "http://localhost/v1/session/deploy-key", count: floodSize)
            let r = run("setpriv", ["--reuid=\(buildUID)", "--regid=\(buildUID)", "--clear-groups", "curl", "-s",
                "--unix-socket", d.socketPath, "-H", "Authorization: Bearer lks_" + String(repeating: "B", count: 43)] + urls)
            #expect(r.out.components(separatedBy: "\"invalid_session\"").count - 1 == floodSize, "every bogus request is still refused")
            // Another uid's refusal still gets its own row.
            #expect(curl(d.socketPath, "GET", "/v1/session/token", bearer: "lks_" + String(repeating: "C", count: 43), uid: secondBuildUID).status == 401)
        }
        let elapsed = Int((ContinuousClock.now - started).components.seconds) + 1
        try await Task.sleep(for: .milliseconds(1100))
        await d.daemon.vault.flushRefusalSummaries()
        try await offPool {
            let rows = try auditRows(d, "/v1/audit?limit=5000")
            let own = rows.filter { $0.uid == buildUID && $0.reason == "invalid_session" }
            #expect(own.count <= 5 * (elapsed + 1), "\(own.count) rows for \(floodSize) refusals")
            let summaries = rows.filter { $0.action == "refusal.summary" && $0.uid == buildUID }
            #expect(!summaries.isEmpty)
            let counted = summaries.compactMap { $0.reason?.split(separator: " ").first.flatMap { Int($0) } }.reduce(0, +)
            #expect(counted + own.count == floodSize, "summaries count \(counted), own rows \(own.count)")
            #expect(summaries.allSatisfy { $0.reason?.contains("refusals of invalid_session (secret.release) from uid \(buildUID) in the last second") == true })
            #expect(rows.contains { $0.uid == secondBuildUID && $0.reason == "invalid_session" })
        }
        await d.stop()
    }

    @Test func aRunnerHoldsAtMostItsCapOfLiveSessions() async throws {
        var limits = ServerLimits()
        limits.maxSessionsPerRunner = 4
        let d = try await TestDaemon(policy: matrixPolicy, limits: limits)
        try await offPool {
            try prepare(d)
            var ids: [String] = []
            for _ in 0..<4 {
                let (status, body) = open(d)
                #expect(status == 201)
                ids.append(body["id"] as? String ?? "")
            }
            let r = curl(d.socketPath, "POST", "/v1/sessions", body: #"{"project":"web-shop","build":"b","grants":["deploy-key"]}"#, uid: runnerUID)
            #expect(r.status == 403 && code(r.body) == "session_limit", "\(r.body)")
            #expect(curl(d.socketPath, "DELETE", "/v1/sessions/\(ids[0])", uid: runnerUID).status == 200)
            #expect(open(d).status == 201, "a closed session frees its place")
        }
        await d.stop()
    }

    @Test func aReloadEndsTheLiveSessionsItNoLongerAllows() async throws {
        let d = try await TestDaemon(policy: twoBuildsPolicy)
        let file = d.policiesDirectory + "/test.yaml"
        let (s1, s2, agentPath) = try await offPool { () -> (String, String, String) in
            try prepare(d)
            let s1 = open(d).body
            let s2 = open(d).body
            #expect(curl(d.socketPath, "GET", "/v1/session/deploy-key", bearer: s1["token"] as? String ?? "", uid: secondBuildUID).status == 200)
            let agent = json(curl(d.socketPath, "POST", "/v1/session/agent", bearer: s2["token"] as? String ?? "", uid: buildUID).body)
            return (s1["token"] as? String ?? "", s2["id"] as? String ?? "", agent["socketPath"] as? String ?? "")
        }
        // Build 4003 leaves the rule: the session whose agent serves it ends; the other
        // session carries on under the new rule, which 4003 cannot redeem by.
        try twoBuildsPolicy.replacingOccurrences(of: "builds: { uids: [4003, 4005] }", with: "builds: { uids: [4005] }")
            .write(toFile: file, atomically: true, encoding: .utf8)
        await d.daemon.vault.reloadPolicy()
        try await offPool {
            let refused = curl(d.socketPath, "GET", "/v1/session/deploy-key", bearer: s1, uid: buildUID)
            #expect(refused.status == 403 && code(refused.body) == "peer_not_allowed", "\(refused.body)")
            #expect(curl(d.socketPath, "GET", "/v1/session/deploy-key", bearer: s1, uid: secondBuildUID).status == 200)
            #expect(!FileManager.default.fileExists(atPath: agentPath), "the agent of 4003 stopped")
            let ends = try auditRows(d, "/v1/audit?action=session.end&limit=100")
            #expect(ends.contains { $0.session == s2 && $0.reason == "policy-changed" }, "\(ends.map(\.reason))")
        }
        // The rule stops granting deploy keys: the session carrying one ends.
        try twoBuildsPolicy.replacingOccurrences(of: "grants: [deploy-key, token]", with: "grants: [token]")
            .write(toFile: file, atomically: true, encoding: .utf8)
        await d.daemon.vault.reloadPolicy()
        try await offPool {
            let r = curl(d.socketPath, "GET", "/v1/session/deploy-key", bearer: s1, uid: secondBuildUID)
            #expect(r.status == 401, "\(r.body)")
            let ends = try auditRows(d, "/v1/audit?action=session.end&limit=100")
            #expect(ends.filter { $0.reason == "policy-changed" }.count == 2)
        }
        await d.stop()
    }
}
