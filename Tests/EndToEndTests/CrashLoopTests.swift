import Foundation
import LatchkeyAPI
import LatchkeyClient
import LatchkeyCrypto
import Testing

/// How hard the reliability suite goes: `LATCHKEY_RELIABILITY=full` for the published
/// figures, a quick form otherwise (CI).
enum Reliability {
    static let full = ProcessInfo.processInfo.environment["LATCHKEY_RELIABILITY"] == "full"
    static func pick(quick: Int, full f: Int) -> Int { full ? f : quick }
}

/// What a client saw acknowledged before the kill.
final class Acknowledged: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var tokenVersions: [Int64] = []
    private(set) var keyVersions: [String: [Int64]] = [:]
    private(set) var generations: [Int64] = []
    private(set) var grantedRequests: [(action: String, id: String)] = []

    func token(_ v: Int64, request: String) { lock.withLock { tokenVersions.append(v); grantedRequests.append(("token.put", request)) } }
    func key(_ project: String, _ v: Int64, request: String) {
        lock.withLock { keyVersions[project, default: []].append(v); grantedRequests.append(("deploy-key.rotate", request)) }
    }
    func generation(_ g: Int64, request: String) { lock.withLock { generations.append(g); grantedRequests.append(("master-key.rotate", request)) } }
    func granted(_ action: String, request: String) { lock.withLock { grantedRequests.append((action, request)) } }
    var writes: Int { lock.withLock { grantedRequests.filter { $0.action != "secret.release" }.count } }
    var releases: Int { lock.withLock { grantedRequests.filter { $0.action == "secret.release" }.count } }
}

@Suite(.serialized) struct CrashLoopTests {
    /// kill -9 at a random moment of a mixed workload (token puts, deploy-key rotations,
    /// session open → release → close, master-key rotations), restart, and check: every
    /// acknowledged write is there, nothing is half done, the audit chain verifies, and
    /// every answer a client saw has its granted audit row. Round after round on one store.
    @Test func killNineDuringAMixedWorkloadLosesNothingAcknowledged() throws {
        let rounds = Reliability.pick(quick: 3, full: 50)
        let d = try DaemonProcess()
        #expect(d.cli(["connection", "add", "ghe", "--kind", "github-enterprise", "--url", "https://ghe.example.com"]).status == 0)
        let projects = ["p0", "p1", "p2"]
        for p in projects {
            #expect(d.cli(["project", "add", p, "--connection", "ghe", "--repo", "acme/\(p)"]).status == 0)
            #expect(d.cli(["deploy-key", "create", p]).status == 0)
        }
        #expect(d.cli(["token", "put", "ghe", "--no-verify", "--username", "ci-bot"], stdin: "ghp_" + Hex.encode(randomBytes(18)) + "\n").status == 0)
        let acked = Acknowledged()
        var killedAfter: [Int] = []
        for round in 1...rounds {
            let killAt = Int.random(in: 150...900)
            killedAfter.append(killAt)
            runWorkload(socket: d.socket, projects: projects, acked: acked, killAfterMillis: killAt) { d.kill9() }
            try d.start()
            try checkInvariants(d, projects: projects, acked: acked, round: round)
        }
        print("crash loop: \(rounds) kill -9 rounds (at \(killedAfter.min() ?? 0)–\(killedAfter.max() ?? 0) ms into the workload), "
            + "\(acked.writes) acknowledged writes and \(acked.releases) answered releases checked after restarts, lost: 0")
        d.stop()
    }

    /// Four clients until the daemon dies under them; `kill` runs after `killAfterMillis`.
    private func runWorkload(socket: String, projects: [String], acked: Acknowledged, killAfterMillis: Int, kill: () -> Void) {
        let done = DispatchGroup()
        func client(_ body: @escaping @Sendable (UnixHTTPConnection) throws -> Bool) {
            done.enter()
            Thread {
                defer { done.leave() }
                guard let conn = try? UnixHTTPConnection(path: socket) else { return }
                while (try? body(conn)) == true {}
            }.start()
        }
        let json = JSONEncoder()
        client { conn in  // token puts, sealed to the daemon's intake key
            let intake = try JSONDecoder().decode(IntakeKey.self, from: Data(conn.send(method: "GET", path: "/v1/intake-key").body))
            var plain = Array(("ghp_" + Hex.encode(randomBytes(18))).utf8)
            let sealed = IntakeKeyPair.seal(try SecretBytes(consuming: &plain), to: Array(Data(base64Encoded: intake.publicKey) ?? Data()))
            let body = try json.encode(TokenPutRequest(username: "ci-bot", sealedToken: Data(sealed).base64EncodedString(), graceSeconds: 600, verify: false))
            let a = try conn.send(method: "POST", path: "/v1/connections/ghe/tokens", body: Array(body))
            guard a.status == 201, let id = a.header("x-request-id") else { return false }
            acked.token(try JSONDecoder().decode(TokenInfo.self, from: Data(a.body)).version, request: id)
            return true
        }
        client { conn in  // deploy-key rotations, with grace
            let p = projects.randomElement()!
            let body = try json.encode(DeployKeyRequest(type: "ed25519", graceSeconds: 600))
            let a = try conn.send(method: "POST", path: "/v1/projects/\(p)/deploy-keys/rotate", body: Array(body))
            guard a.status == 201, let id = a.header("x-request-id") else { return false }
            acked.key(p, try JSONDecoder().decode(DeployKeyInfo.self, from: Data(a.body)).version, request: id)
            return true
        }
        client { conn in  // a build's cycle
            let open = try json.encode(SessionOpenRequest(project: projects.randomElement()!, build: "crash", grants: ["deploy-key", "token"], uses: 3))
            let o = try conn.send(method: "POST", path: "/v1/sessions", body: Array(open))
            guard o.status == 201, let openID = o.header("x-request-id") else { return false }
            acked.granted("session.open", request: openID)
            let s = try JSONDecoder().decode(SessionOpened.self, from: Data(o.body))
            for path in ["/v1/session/token", "/v1/session/deploy-key"] {
                let r = try conn.send(method: "GET", path: path, headers: [("Authorization", "Bearer \(s.token)")])
                guard r.status == 200, let id = r.header("x-request-id") else { return false }
                acked.granted("secret.release", request: id)
            }
            let c = try conn.send(method: "DELETE", path: "/v1/sessions/\(s.id)")
            guard c.status == 200, let closeID = c.header("x-request-id") else { return false }
            acked.granted("session.close", request: closeID)
            return true
        }
        client { conn in  // now and then, a master-key rotation
            usleep(UInt32.random(in: 50_000...250_000))
            let a = try conn.send(method: "POST", path: "/v1/master-key/rotate")
            guard a.status == 200, let id = a.header("x-request-id") else { return false }
            acked.generation(try JSONDecoder().decode(MasterKeyRotation.self, from: Data(a.body)).generation, request: id)
            return true
        }
        usleep(UInt32(killAfterMillis) * 1000)
        kill()
        done.wait()
    }

    private func checkInvariants(_ d: DaemonProcess, projects: [String], acked: Acknowledged, round: Int) throws {
        let db = d.dataDir + "/latchkey.db"
        func query(_ sql: String) -> [String] {
            let r = sh(["sqlite3", "-readonly", db, sql])
            #expect(r.status == 0, "round \(round): \(sql): \(r.err)")
            return r.out.split(separator: "\n").map(String.init)
        }
        // The audit chain verifies.
        let verify = d.cli(["audit", "verify", "--data-dir", d.dataDir])
        #expect(verify.status == 0, "round \(round): \(verify.out) \(verify.err)")
        // Every acknowledged version is stored.
        let tokens = Set(query("SELECT version FROM secret_version WHERE kind = 'token' AND owner = 'connection:ghe'").compactMap { Int64($0) })
        #expect(Set(acked.tokenVersions).isSubset(of: tokens), "round \(round): acknowledged token versions lost")
        for p in projects {
            let keys = Set(query("SELECT version FROM secret_version WHERE kind = 'deploy-key' AND owner = 'project:\(p)'").compactMap { Int64($0) })
            #expect(Set(acked.keyVersions[p] ?? []).isSubset(of: keys), "round \(round): acknowledged key versions of \(p) lost")
        }
        // One key generation, every data key wrapped by it, at least as new as any acknowledged.
        let generations = query("SELECT generation FROM key_generation")
        #expect(generations.count == 1, "round \(round): key generations \(generations): a half-done rotation")
        let current = Int64(generations.first ?? "") ?? 0
        #expect(current >= (acked.generations.max() ?? 0), "round \(round): an acknowledged master-key rotation was lost")
        #expect(query("SELECT DISTINCT generation FROM secret_version") == ["\(current)"], "round \(round): data keys of another generation")
        // Nothing half-done: one active version per secret, no live version without its sealed bytes.
        #expect(query("SELECT kind, owner FROM secret_version WHERE state = 'active' GROUP BY kind, owner HAVING count(*) > 1").isEmpty)
        #expect(query("SELECT id FROM secret_version WHERE state != 'revoked' AND (length(sealed_payload) = 0 OR length(wrapped_dek) = 0)").isEmpty)
        // Every answer a client saw has its granted row.
        let requests = acked.grantedRequestsSnapshot
        var missing: [String] = []
        for chunk in stride(from: 0, to: requests.count, by: 300) {
            let batch = requests[chunk..<min(chunk + 300, requests.count)]
            let list = batch.map { "'\($0.id)'" }.joined(separator: ",")
            let found = Set(query("SELECT action || ' ' || request_id FROM audit WHERE outcome = 'granted' AND request_id IN (\(list))"))
            missing += batch.map { "\($0.action) \($0.id)" }.filter { !found.contains($0) }
        }
        #expect(missing.isEmpty, "round \(round): \(missing.count) acknowledged requests have no granted audit row: \(missing.prefix(5))")
        // And the store still opens what it holds: a fresh session releases both secrets.
        let open = d.cli(["session", "open", "p0", "--build", "after-\(round)", "--grant", "deploy-key", "--grant", "token", "--json"])
        let token = (try? JSONSerialization.jsonObject(with: Data(open.out.utf8)) as? [String: Any])?["token"] as? String ?? ""
        #expect(d.cli(["fetch", "token"], env: ["LATCHKEY_SESSION": token]).status == 0, "round \(round): token not released after restart")
        #expect(d.cli(["fetch", "deploy-key"], env: ["LATCHKEY_SESSION": token]).status == 0, "round \(round): key not released after restart")
    }
}

extension Acknowledged {
    var grantedRequestsSnapshot: [(action: String, id: String)] { grantedRequests }
}
