import Foundation
import LatchkeyClient
import Testing

/// Thread-safe list of what the clients saw answered.
final class Answered: @unchecked Sendable {
    private let lock = NSLock()
    private var ids: [String] = []
    func add(_ id: String) { lock.withLock { ids.append(id) } }
    var all: [String] { lock.withLock { ids } }
}

@Suite(.serialized) struct CrashTests {
    /// kill -9 in the middle of a burst of audited releases: after a restart the chain
    /// verifies and every release a client saw answered has its durable row.
    @Test func killNineDuringABurstLosesNoAnsweredRelease() throws {
        let d = try DaemonProcess()
        #expect(d.cli(["connection", "add", "ghe", "--kind", "github-enterprise", "--url", "https://ghe.example.com"]).status == 0)
        #expect(d.cli(["project", "add", "web", "--connection", "ghe", "--repo", "acme/web"]).status == 0)
        #expect(d.cli(["token", "put", "ghe", "--no-verify", "--username", "ci-bot"], stdin: "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB\n").status == 0)
        let open = d.cli(["session", "open", "web", "--build", "burst", "--grant", "token", "--uses", "100000", "--json"])
        let session = try #require(try JSONSerialization.jsonObject(with: Data(open.out.utf8)) as? [String: Any])
        let token = try #require(session["token"] as? String)
        let answered = Answered()
        let done = DispatchGroup()
        let socket = d.socket
        for _ in 0..<4 {
            done.enter()
            Thread {
                defer { done.leave() }
                guard let conn = try? UnixHTTPConnection(path: socket) else { return }
                while true {
                    guard let a = try? conn.send(method: "GET", path: "/v1/session/token", headers: [("Authorization", "Bearer \(token)")]),
                        a.status == 200, let id = a.header("x-request-id")
                    else { return }
                    answered.add(id)
                }
            }.start()
        }
        usleep(700_000)
        d.kill9()
        done.wait()
        let ids = answered.all
        #expect(ids.count > 10, "the burst answered \(ids.count) releases before the kill")
        try d.start()
        let verify = d.cli(["audit", "verify", "--data-dir", d.dataDir])
        #expect(verify.status == 0, "\(verify.out) \(verify.err)")
        // Every answered release has its granted row.
        let db = d.dataDir + "/latchkey.db"
        var missing: [String] = []
        for chunk in stride(from: 0, to: ids.count, by: 400) {
            let batch = ids[chunk..<min(chunk + 400, ids.count)]
            let list = batch.map { "'\($0)'" }.joined(separator: ",")
            let r = sh(["sqlite3", db, "SELECT request_id FROM audit WHERE action = 'secret.release' AND outcome = 'granted' AND request_id IN (\(list))"])
            let found = Set(r.out.split(separator: "\n").map(String.init))
            missing += batch.filter { !found.contains($0) }
        }
        #expect(missing.isEmpty, "\(missing.count) answered releases have no audit row")
        // The restart ended the session: its token redeems nothing now.
        let after = d.cli(["fetch", "token"], env: ["LATCHKEY_SESSION": token])
        #expect(after.status == 77)
        d.stop()
    }
}
