import Foundation
import LatchkeyAPI
import LatchkeyClient
@testable import LatchkeyServer
import Testing

/// A second build uid of the same rule, on the same host (#16 findings 1, 2): it can
/// list what it can read, read /proc/net/unix, and connect to every socket it finds.
let secondBuildUID: UInt32 = 4005
nonisolated(unsafe) var lastSignError = ""

let twoBuildsPolicy = """
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
        builds: { uids: [4003, 4005] }
    """

@Suite(.serialized) struct HostileBuildAgentTests {
    let work: String = {
        let d = "/tmp/lk-agent-\(UUID().uuidString.prefix(8))"
        mkdir(d, 0o777)
        chmod(d, 0o777)
        return d
    }()

    func prepare(_ d: TestDaemon, projects: [String] = ["web-shop"]) throws {
        let c = try d.client()
        let _: ConnectionInfo = try c.call("POST", "/v1/connections", body: ConnectionRequest(name: "ghe", kind: "github-enterprise", url: "https://ghe.example.com"))
        for p in projects {
            let _: ProjectInfo = try c.call("POST", "/v1/projects", body: ProjectRequest(name: p, connection: "ghe", repo: "acme/\(p)"))
            let _: DeployKeyInfo = try c.call("POST", "/v1/projects/\(p)/deploy-keys", body: DeployKeyRequest())
        }
    }

    func open(_ d: TestDaemon, project: String = "web-shop", grants: String = #"["deploy-key"]"#) -> [String: Any] {
        json(curl(d.socketPath, "POST", "/v1/sessions", body: #"{"project":"\#(project)","build":"b","grants":\#(grants),"ttlSeconds":300,"uses":3}"#, uid: runnerUID).body)
    }

    /// The agent of a session, opened with its token by `uid`: its socket path.
    func agent(_ d: TestDaemon, token: String, uid: UInt32 = buildUID) -> (status: Int, socket: String, code: String) {
        let r = curl(d.socketPath, "POST", "/v1/session/agent", bearer: token, uid: uid)
        let body = json(r.body)
        return (r.status, body["socketPath"] as? String ?? "", (body["error"] as? [String: Any])?["code"] as? String ?? "")
    }

    /// Asks the agent at `socket`, as `uid`, to sign with the key (`ssh-add -T`: a real
    /// signature request, verified); whether a good signature came back.
    func signs(_ socket: String, publicKey: String, uid: UInt32) -> Bool {
        let pub = work + "/key-\(UUID().uuidString.prefix(8)).pub"
        try? publicKey.write(toFile: pub, atomically: true, encoding: .utf8)
        chmod(pub, 0o644)
        let r = run("setpriv", ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "ssh-add", "-T", pub],
            environment: ["SSH_AUTH_SOCK": socket, "PATH": "/usr/bin:/bin"])
        if r.status != 0 { lastSignError = r.err }
        return r.status == 0
    }

    func publicKey(_ d: TestDaemon, project: String = "web-shop") -> String {
        json(curl(d.socketPath, "GET", "/v1/projects/\(project)/deploy-keys/current", uid: adminUID).body)["publicKey"] as? String ?? ""
    }

    @Test func aSecondBuildUidOfTheSameRuleSignsWithNoAgentItFinds() async throws {
        let d = try await TestDaemon(policy: twoBuildsPolicy)
        try await offPool {
            try prepare(d, projects: ["web-shop", "web-admin"])
            // The victim's session and agent, opened by build uid 4003 with its token.
            let victim = open(d, project: "web-admin")
            let a = agent(d, token: victim["token"] as? String ?? "")
            #expect(a.status == 201, "\(a)")
            let key = publicKey(d, project: "web-admin")
            #expect(signs(a.socket, publicKey: key, uid: buildUID), "the uid that opened the agent signs: \(lastSignError)")
            // The agent directory cannot be listed by the attacker…
            let dir = (a.socket as NSString).deletingLastPathComponent
            #expect(run("setpriv", ["--reuid=\(secondBuildUID)", "--regid=\(secondBuildUID)", "--clear-groups", "ls", dir]).status != 0)
            // …but /proc/net/unix names every bound socket: the attacker tries each one.
            let procNetUnix = run("setpriv", ["--reuid=\(secondBuildUID)", "--regid=\(secondBuildUID)", "--clear-groups", "cat", "/proc/net/unix"]).out
            let found = procNetUnix.split(separator: "\n").compactMap { $0.split(separator: " ").last.map(String.init) }
                .filter { $0.hasPrefix(d.directory) }
            #expect(found.contains(a.socket), "the attacker finds the agent's path")
            for socket in Set(found) {
                #expect(!signs(socket, publicKey: key, uid: secondBuildUID), "signed through \(socket)")
                let listed = run("setpriv", ["--reuid=\(secondBuildUID)", "--regid=\(secondBuildUID)", "--clear-groups", "ssh-add", "-L"],
                    environment: ["SSH_AUTH_SOCK": socket])
                #expect(!listed.out.contains("ssh-"), "listed keys through \(socket)")
            }
            // Even holding the token, another uid does not get the agent the first opened.
            let stolen = agent(d, token: victim["token"] as? String ?? "", uid: secondBuildUID)
            #expect(stolen.status == 403 && stolen.code == "agent_not_yours", "\(stolen)")
            // Its own session's agent works for it (the refusals above are not a broken agent).
            let own = open(d)
            let mine = agent(d, token: own["token"] as? String ?? "", uid: secondBuildUID)
            #expect(mine.status == 201 && signs(mine.socket, publicKey: publicKey(d), uid: secondBuildUID))
            #expect(!signs(mine.socket, publicKey: publicKey(d), uid: buildUID), "and it is bound to the attacker's uid in turn")
            // Every refused connection left a denied row (and no signature row for it).
            let rows = try auditRows(d, "/v1/audit?action=agent.connect&limit=1000")
            #expect(rows.contains { $0.reason == "agent_not_yours" && $0.outcome == "denied" })
        }
        await d.stop()
    }

    @Test func revokedVersionsSignNothingByEveryPath() async throws {
        let d = try await TestDaemon(policy: twoBuildsPolicy)
        try await offPool { try prepare(d) }
        let s = d.socketPath
        // rotate --grace 0s: the session holding v1 ends and its agent stops at once.
        let first = try await offPool { () -> [String] in
            let session = open(d)
            let a = agent(d, token: session["token"] as? String ?? "")
            let key = publicKey(d)
            #expect(signs(a.socket, publicKey: key, uid: buildUID))
            #expect(curl(s, "POST", "/v1/projects/web-shop/deploy-keys/rotate", body: #"{"graceSeconds":0}"#, uid: adminUID).status == 201)
            return [session["token"] as? String ?? "", a.socket, key]
        }
        try await offPool {
            #expect(!signs(first[1], publicKey: first[2], uid: buildUID), "v1 signs after rotate --grace 0s")
            #expect(!FileManager.default.fileExists(atPath: first[1]))
            #expect(curl(s, "GET", "/v1/session/deploy-key", bearer: first[0], uid: buildUID).status == 401)
        }
        // Grace end: v2 in a 5 s grace signs, then not, before and after housekeeping (the
        // grace is long enough for a loaded machine to sign within it; the wait is to its end).
        let second = try await offPool { () -> [String] in
            let session = open(d)
            let a = agent(d, token: session["token"] as? String ?? "")
            let key = publicKey(d)
            #expect(curl(s, "POST", "/v1/projects/web-shop/deploy-keys/rotate", body: #"{"graceSeconds":5}"#, uid: adminUID).status == 201)
            let rotated = Date()  // the grace ends at most 5 s from here
            #expect(signs(a.socket, publicKey: key, uid: buildUID), "v2 signs in its grace: \(lastSignError)")
            Thread.sleep(forTimeInterval: max(0, 5.3 - Date().timeIntervalSince(rotated)))
            #expect(!signs(a.socket, publicKey: key, uid: buildUID), "v2 signs after its grace, before housekeeping")
            return [session["id"] as? String ?? "", a.socket]
        }
        await d.daemon.vault.housekeep()
        try await offPool {
            #expect(!FileManager.default.fileExists(atPath: second[1]), "grace end stops the agent")
            let ends = try auditRows(d, "/v1/audit?action=session.end&limit=100")
            #expect(ends.contains { $0.session == second[0] && $0.reason == "key-revoked" }, "\(ends.map(\.reason))")
        }
        // revoke --version N of a version already retired still ends what holds it.
        try await offPool {
            let held = open(d)  // pins v3
            let agentPath = agent(d, token: held["token"] as? String ?? "").socket
            #expect(curl(s, "POST", "/v1/projects/web-shop/deploy-keys/rotate", body: #"{"graceSeconds":600}"#, uid: adminUID).status == 201)
            let r = curl(s, "POST", "/v1/projects/web-shop/deploy-keys/revoke", body: #"{"version":3}"#, uid: adminUID)
            #expect(r.status == 200 && json(r.body)["endedSessions"] as? Int == 1, "\(r.body)")
            #expect(!FileManager.default.fileExists(atPath: agentPath))
            // And revoking it again (already revoked) reports nothing left to end, without error.
            let again = curl(s, "POST", "/v1/projects/web-shop/deploy-keys/revoke", body: #"{"version":3}"#, uid: adminUID)
            #expect(again.status == 200 && json(again.body)["endedSessions"] as? Int == 0, "\(again.body)")
        }
        // Project removal.
        try await offPool {
            let held = open(d)
            let agentPath = agent(d, token: held["token"] as? String ?? "").socket
            let key = publicKey(d)
            #expect(curl(s, "DELETE", "/v1/projects/web-shop?force=true", uid: adminUID).status == 200)
            #expect(!signs(agentPath, publicKey: key, uid: buildUID))
            #expect(!FileManager.default.fileExists(atPath: agentPath))
        }
        await d.stop()
    }
}
