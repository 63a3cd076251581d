import Foundation
import SCMFakes
import LatchkeyTestSupport
import Testing

/// Deploy keys installed by Latchkey on each (faked) server, through the real daemon.
@Suite(.serialized) struct SCMDeployKeyTests {
    static func list(_ d: DaemonProcess) throws -> [[String: Any]] {
        let r = d.cli(["deploy-key", "list", "web", "--json"])
        return try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [[String: Any]], "\(r.err)")
    }

    static func install(_ entry: [String: Any]) -> [String: Any]? { entry["install"] as? [String: Any] }

    /// Polls until `done` or the deadline.
    static func eventually(_ seconds: Double = 20, _ done: () throws -> Bool) rethrows -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if try done() { return true }
            usleep(200_000)
        }
        return try done()
    }

    @Test(arguments: FakeKind.allCases)
    func installRotateGraceEndAndRevokeWithoutTouchingTheServer(kind: FakeKind) async throws {
        setenv("LATCHKEY_SCM_REMOVAL_BACKOFF", "1", 1)
        let s = try await SCMEndToEndTests.setUp(kind)
        defer { s.pki.remove() }
        let d = s.daemon
        let repo = SCMEndToEndTests.repository(kind)
        let set = d.cli(["project", "set", "web", "--install-deploy-key"])
        #expect(set.status == 0 && set.out.contains("installed by Latchkey (read-only)"), "\(set.err)")
        // connection verify now checks what installing keys needs, and finds it.
        #expect(d.cli(["connection", "verify", "scm1"]).status == 0)

        // create installs v1 on the repository.
        let created = d.cli(["deploy-key", "create", "web", "--json"])
        #expect(created.status == 0, "\(created.err)")
        var keys = s.fake.deployKeys(repo)
        #expect(keys.map(\.title) == ["latchkey:web:v1"])
        #expect(keys.first?.write == false)
        var list = try Self.list(d)
        #expect(Self.install(list[0])?["state"] as? String == "installed")
        #expect(Self.install(list[0])?["serverKeyId"] as? String == keys.first.map { String($0.id) })
        #expect(keys.first?.key == list[0]["publicKey"] as? String)

        // rotate installs v2 at once; v1 leaves the server when its grace ends.
        let rotated = d.cli(["deploy-key", "rotate", "web", "--grace", "1s"])
        #expect(rotated.status == 0, "\(rotated.err)")
        #expect(s.fake.deployKeys(repo).map(\.title).sorted() == ["latchkey:web:v1", "latchkey:web:v2"])
        #expect(Self.eventually { s.fake.deployKeys(repo).map(\.title) == ["latchkey:web:v2"] }, "v1 was not removed after its grace")
        list = try Self.list(d)
        #expect(Self.install(list[0])?["state"] as? String == "removed")
        #expect(Self.install(list[1])?["state"] as? String == "installed")

        // A key the server says is in use: a clear error, and nothing stored.
        s.fake.failNext(.keyInUse, method: "POST")
        let inUse = d.cli(["deploy-key", "rotate", "web"])
        #expect(inUse.status != 0 && inUse.err.contains("scm_key_in_use") && inUse.err.contains("already"), "\(inUse.err)")
        #expect(try Self.list(d).count == 2)
        #expect(s.fake.deployKeys(repo).map(\.title) == ["latchkey:web:v2"])

        // revoke removes at once; a removal the server fails is retried until it succeeds.
        s.fake.failNext(.serverError, method: "DELETE")
        let revoked = d.cli(["deploy-key", "revoke", "web"])
        #expect(revoked.status == 0, "\(revoked.err)")
        list = try Self.list(d)
        #expect(Self.install(list[1])?["state"] as? String == "removing")
        #expect((Self.install(list[1])?["lastError"] as? String)?.contains("500") == true)
        #expect(d.cli(["deploy-key", "list", "web"]).out.contains("removal pending"))
        #expect(Self.eventually { s.fake.deployKeys(repo).isEmpty }, "the failed removal was not retried")
        // The daemon records the removal once the server has answered: a moment after the fake
        // dropped the key.
        #expect(Self.eventually { (try? Self.list(d)).flatMap { Self.install($0[1])?["state"] as? String } == "removed" })

        // Audited: installs and removals, and every request to the server.
        let audit = d.cli(["audit", "list", "--action", "deploy-key.uninstall", "--json"]).out
        #expect(audit.contains("\"granted\"") && audit.contains("\"failed\""))
        #expect(!d.log.contains(s.token))
        d.stop()
        await s.fake.stop()
    }

    @Test func aDaemonKilledBetweenInstallAndRecordLeavesNoOrphanAfterRestart() async throws {
        let s = try await SCMEndToEndTests.setUp(.gitlab)
        defer { s.pki.remove() }
        let d = s.daemon
        let repo = SCMEndToEndTests.repository(.gitlab)
        #expect(d.cli(["project", "set", "web", "--install-deploy-key"]).status == 0)
        #expect(d.cli(["deploy-key", "create", "web"]).status == 0)
        // The server takes the v2 key but its answer is slow; the daemon dies waiting for it.
        s.fake.failNext(.slow(milliseconds: 4000), method: "POST", pathContains: "deploy_keys")
        let out = d.root + "/rotate.out"
        guard let pid = spawn(
                [latchkeyBinary, "deploy-key", "rotate", "web", "--socket", d.socket], environment: ProcessInfo.processInfo.environment,
                stdoutPath: out, stderrPath: out)
        else { throw FixtureError("cannot run the CLI") }
        #expect(Self.eventually(10) { s.fake.deployKeys(repo).count == 2 })
        d.kill9()
        _ = waitFor(pid)
        #expect(s.fake.deployKeys(repo).map(\.title).sorted() == ["latchkey:web:v1", "latchkey:web:v2"])
        // And a recorded key someone deleted on the server by hand.
        let v1 = try #require(s.fake.deployKeys(repo).first { $0.title == "latchkey:web:v1" })
        s.fake.removeDeployKeyByHand(repo, id: v1.id)
        try d.start()
        // Reconciled: the unrecorded v2 is gone, the recorded v1 is back, the store has only v1.
        #expect(Self.eventually { s.fake.deployKeys(repo).map(\.title) == ["latchkey:web:v1"] }, "\(s.fake.deployKeys(repo).map(\.title))")
        let list = try Self.list(d)
        #expect(list.count == 1)
        let newID = s.fake.deployKeys(repo).first.map { String($0.id) }
        #expect(Self.eventually { (try? Self.list(d)).flatMap { Self.install($0[0])?["serverKeyId"] as? String } == newID })
        let audit = d.cli(["audit", "list", "--action", "deploy-key.uninstall", "--json"]).out
        #expect(audit.contains("unrecorded"))
        d.stop()
        await s.fake.stop()
    }
}
