import Foundation
import LatchkeyTestSupport
import Testing

/// Several `latchkey serve --database postgresql://…` daemons, each with its own data
/// directory and socket, on one real PostgreSQL server (over TLS, verify-full), as a fleet
/// runs: the owner role migrates once (`init --database`), the daemons log in as the daemon
/// role, which cannot migrate.
///
/// Every daemon's audit writer extends the one chain under the fleet's chain lock, so the
/// daemons may write at once (the mixed-load test runs three together).
@Suite(.serialized, .enabled(if: PostgresServer.testsEnabled, Comment(rawValue: PostgresServer.skipMessage)))
struct PostgresFleetTests {
    /// One initialized fleet database on its own TLS server.
    final class Fleet {
        let server: PostgresServer
        let root: String
        let keyFile: String
        let daemonPasswordFile: String
        let url: String

        init() throws {
            server = try PostgresServer(tls: true)
            root = makeTempDirectory("pg-fleet")
            keyFile = root + "/master.key"
            let tls = "sslmode=verify-full&sslrootcert=\(server.caPath)"
            let initialized = sh([
                latchkeyBinary, "init", "--database", server.url(role: PostgresServer.ownerRole, query: tls),
                "--database-password-file", try server.passwordFile(role: PostgresServer.ownerRole),
                "--data-dir", root + "/owner", "--key-file", keyFile, "--grant-to", PostgresServer.daemonRole,
            ])
            guard initialized.status == 0 else { throw FixtureError("init --database failed: \(initialized.err)") }
            daemonPasswordFile = try server.passwordFile(role: PostgresServer.daemonRole)
            url = server.url(role: PostgresServer.daemonRole, query: tls)
        }

        /// A daemon of the fleet: its own data directory, socket and log, the shared key.
        func daemon(_ name: String, _ extra: [String] = []) throws -> DaemonProcess {
            try DaemonProcess(
                serveArguments: ["--database", url, "--database-password-file", daemonPasswordFile, "--host-name", "host-\(name)"] + extra,
                dataDir: root + "/host-\(name)", keyFile: keyFile)
        }

        deinit { try? FileManager.default.removeItem(atPath: root) }
    }

    @Test func aTokenPutThroughOneDaemonIsReleasedToABuildOnAnother() throws {
        let fleet = try Fleet()
        let a = try fleet.daemon("a")
        #expect(a.cli(["connection", "add", "bb", "--kind", "bitbucket-server", "--url", "https://bb.example.com"]).status == 0)
        #expect(a.cli(["project", "add", "ops", "--connection", "bb", "--repo", "OPS/deploy-scripts"]).status == 0)
        let secret = String(repeating: "Fl3", count: 14) + "AB"
        let put = a.cli(["token", "put", "bb", "--no-verify", "--username", "ci-bot", "--expires", "2099-01-01"], stdin: secret + "\n")
        #expect(put.status == 0, "\(put.err)")

        // Daemon B, another host's directory and socket on the same database, releases it.
        let b = try fleet.daemon("b")
        #expect(b.dataDir != a.dataDir && b.socket != a.socket)
        #expect(b.cli(["project", "list"]).out.contains("ops"))
        let open = b.cli(["session", "open", "ops", "--build", "fleet-1", "--grant", "token", "--json"])
        #expect(open.status == 0, "\(open.err)")
        let token = try #require((try JSONSerialization.jsonObject(with: Data(open.out.utf8)) as? [String: Any])?["token"] as? String)
        let fetched = b.cli(["fetch", "token"], env: ["LATCHKEY_SESSION": token])
        #expect(fetched.status == 0, "\(fetched.err)")
        #expect(fetched.out == "ci-bot\n\(secret)\n")

        // A third host, started after B stopped, releases it too.
        b.stop()
        let c = try fleet.daemon("c")
        let third = c.cli(["session", "open", "ops", "--build", "fleet-2", "--grant", "token", "--json"])
        let thirdToken = try #require((try JSONSerialization.jsonObject(with: Data(third.out.utf8)) as? [String: Any])?["token"] as? String, "\(third.err)")
        #expect(c.cli(["fetch", "token"], env: ["LATCHKEY_SESSION": thirdToken]).out == "ci-bot\n\(secret)\n")
        c.stop()

        // Neither host's directory holds a store, and no secret lies in any or in a log.
        a.kill9()
        for d in [a, b, c] {
            #expect(!FileManager.default.fileExists(atPath: d.dataDir + "/latchkey.db"))
            #expect(sh(["grep", "-r", "-l", "-F", secret, d.dataDir]).status == 1)
            #expect(!d.log.contains(secret) && !d.log.contains(fleet.server.daemonPassword))
        }
        #expect(!fleet.server.log.contains(secret))

        // One audit chain for both hosts, verified straight from the database.
        let verified = sh([latchkeyBinary, "audit", "verify", "--database", fleet.url, "--database-password-file", fleet.daemonPasswordFile])
        #expect(verified.status == 0, "\(verified.out) \(verified.err)")
        #expect(verified.out.contains("intact"), "\(verified.out)")
        // The same through LATCHKEY_DATABASE.
        let byEnvironment = sh(
            [latchkeyBinary, "audit", "verify", "--database-password-file", fleet.daemonPasswordFile, "--json"], env: ["LATCHKEY_DATABASE": fleet.url])
        #expect(byEnvironment.status == 0, "\(byEnvironment.err)")
        let report = try JSONSerialization.jsonObject(with: Data(byEnvironment.out.utf8)) as? [String: Any]
        #expect(report?["intact"] as? Bool == true && (report?["rows"] as? Int ?? 0) > 0, "\(byEnvironment.out)")
    }

    @Test func threeDaemonsUnderMixedLoadKeepOneChainAndSeeEveryAcknowledgedWrite() throws {
        let fleet = try Fleet()
        let hosts = try ["a", "b", "c"].map { try fleet.daemon($0) }
        let a = hosts[0]
        #expect(a.cli(["connection", "add", "bb", "--kind", "bitbucket-server", "--url", "https://bb.example.com"]).status == 0)
        #expect(a.cli(["project", "add", "ops", "--connection", "bb", "--repo", "OPS/deploy-scripts"]).status == 0)
        let secret = String(repeating: "Mx7", count: 14) + "AB"
        #expect(a.cli(["token", "put", "bb", "--no-verify", "--username", "ci-bot"], stdin: secret + "\n").status == 0)

        // On every host at once: two builds redeeming in a loop, and an admin adding projects.
        let fetchLoop = "while :; do \"$1\" fetch token --socket \"$2\" > /dev/null 2>&1 && echo ok >> \"$3\"; done"
        let adminLoop = """
            for i in $(seq 1 12); do "$1" project add "p$i-$4" --connection bb --repo "OPS/p$i" --socket "$2" > /dev/null 2>&1 && echo "p$i-$4" >> "$3"; done
            """
        var loaders: [pid_t] = []
        var admins: [pid_t] = []
        for (i, d) in hosts.enumerated() {
            let open = d.cli(["session", "open", "ops", "--build", "mixed-\(i)", "--grant", "token", "--uses", "100000", "--json"])
            let token = try #require((try JSONSerialization.jsonObject(with: Data(open.out.utf8)) as? [String: Any])?["token"] as? String, "\(open.err)")
            var environment = ProcessInfo.processInfo.environment
            environment["LATCHKEY_SESSION"] = token
            for _ in 0..<2 {
                loaders += spawn(["/bin/bash", "-c", fetchLoop, "load", latchkeyBinary, d.socket, fleet.root + "/acks-\(i)"], environment: environment,
                                 stdoutPath: "/dev/null", stderrPath: "/dev/null").map { [$0] } ?? []
            }
            admins += spawn(["/bin/bash", "-c", adminLoop, "admin", latchkeyBinary, d.socket, fleet.root + "/added", "h\(i)"], environment: ProcessInfo.processInfo.environment,
                            stdoutPath: "/dev/null", stderrPath: "/dev/null").map { [$0] } ?? []
        }
        #expect(loaders.count == 6 && admins.count == 3)
        for pid in admins { _ = waitFor(pid) }
        usleep(1_000_000)
        for pid in loaders { kill(pid, SIGKILL); _ = waitFor(pid) }
        func lines(_ file: String) -> [String] {
            ((try? String(contentsOfFile: fleet.root + "/" + file, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
        let acknowledged = (0..<3).map { lines("acks-\($0)").count }
        print("fleet mixed load: releases acknowledged per host \(acknowledged), projects added \(lines("added").count)")
        #expect(acknowledged.allSatisfy { $0 > 0 }, "every host served under load: \(acknowledged)")
        #expect(lines("added").count == 36, "every admin write was acknowledged: \(lines("added"))")

        // Every acknowledged write is visible on every host.
        for d in hosts {
            let listed = d.cli(["project", "list"]).out
            let missing = lines("added").filter { !listed.contains($0) }
            #expect(missing.isEmpty, "\(d.dataDir) lacks \(missing)")
        }
        for d in hosts { d.stop() }

        // One chain: every seq once, none missing, and every acknowledged release has its row.
        let counts = try fleet.server.psql(as: PostgresServer.daemonRole, "SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM audit;")
        let c = counts.out.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "|").compactMap { Int($0) }
        #expect(c.count == 4 && c[0] == c[1] && c[2] == 1 && c[3] == c[0], "count, distinct, min, max: \(counts.out) \(counts.err)")
        let released = try fleet.server.psql(
            as: PostgresServer.daemonRole, "SELECT count(*) FROM audit WHERE action = 'secret.release' AND outcome = 'granted';")
        #expect((Int(released.out.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1) >= acknowledged.reduce(0, +), "\(released.out)")
        // Every row says which host wrote it.
        let writers = try fleet.server.psql(as: PostgresServer.daemonRole, "SELECT coalesce(host, '-') FROM audit GROUP BY 1 ORDER BY 1;")
        #expect(writers.out.split(separator: "\n") == ["host-a", "host-b", "host-c"], "\(writers.out)")
        let verified = sh([latchkeyBinary, "audit", "verify", "--database", fleet.url, "--database-password-file", fleet.daemonPasswordFile])
        #expect(verified.status == 0 && verified.out.contains("intact"), "\(verified.out) \(verified.err)")
    }

    /// Three daemons under builds' load; one is killed mid-batch, then PostgreSQL stops for
    /// 5 s. The others go on after the kill, every daemon fails closed during the outage and
    /// serves again after it without a restart, and every release any build got — the
    /// killed host's too — has its row in the one chain, which verifies.
    @Test func faultRoundsUnderLoadLoseNoAcknowledgedRelease() throws {
        let fleet = try Fleet()
        let hosts = try ["a", "b", "c"].map { try fleet.daemon($0) }
        #expect(hosts[0].cli(["connection", "add", "bb", "--kind", "bitbucket-server", "--url", "https://bb.example.com"]).status == 0)
        #expect(hosts[0].cli(["project", "add", "ops", "--connection", "bb", "--repo", "OPS/deploy-scripts"]).status == 0)
        #expect(hosts[0].cli(["token", "put", "bb", "--no-verify", "--username", "ci-bot"], stdin: String(repeating: "Ft6", count: 14) + "AB\n").status == 0)
        let loop = "while :; do \"$1\" fetch token --socket \"$2\" > /dev/null 2>&1 && echo ok >> \"$3\"; done"
        var loaders: [pid_t] = []
        for (i, d) in hosts.enumerated() {
            let open = d.cli(["session", "open", "ops", "--build", "fault-\(i)", "--grant", "token", "--uses", "100000", "--json"])
            let token = try #require((try JSONSerialization.jsonObject(with: Data(open.out.utf8)) as? [String: Any])?["token"] as? String, "\(open.err)")
            var environment = ProcessInfo.processInfo.environment
            environment["LATCHKEY_SESSION"] = token
            for _ in 0..<2 {
                loaders += spawn(["/bin/bash", "-c", loop, "load", latchkeyBinary, d.socket, fleet.root + "/acks-\(i)"], environment: environment,
                                 stdoutPath: "/dev/null", stderrPath: "/dev/null").map { [$0] } ?? []
            }
        }
        func acks(_ i: Int) -> Int {
            ((try? String(contentsOfFile: fleet.root + "/acks-\(i)", encoding: .utf8)) ?? "").split(separator: "\n").count
        }
        func waitForMore(_ i: Int, than n: Int, within seconds: Int = 15) -> Bool {
            let deadline = ContinuousClock.now + .seconds(seconds)
            while ContinuousClock.now < deadline {
                if acks(i) > n { return true }
                usleep(50_000)
            }
            return false
        }
        for i in 0..<3 { #expect(waitForMore(i, than: 20), "host \(i) serves under load") }

        // Host B dies mid-load; A and C go on.
        hosts[1].kill9()
        let (a0, c0) = (acks(0), acks(2))
        #expect(waitForMore(0, than: a0 + 10) && waitForMore(2, than: c0 + 10), "A and C go on after B was killed")

        // PostgreSQL goes away for 5 s: releases fail closed; then both survivors serve again.
        fleet.server.stop()
        usleep(500_000)
        let (a1, c1) = (acks(0), acks(2))
        usleep(4_500_000)
        #expect(acks(0) <= a1 + 2 && acks(2) <= c1 + 2, "nothing is released while the store is down")
        try fleet.server.start()
        #expect(waitForMore(0, than: acks(0) + 5) && waitForMore(2, than: acks(2) + 5), "A and C recover by themselves")
        for pid in loaders { kill(pid, SIGKILL); _ = waitFor(pid) }
        hosts[0].stop()
        hosts[2].stop()

        // Every acknowledged release, of every host, has its granted row; one intact chain.
        for (i, name) in ["a", "b", "c"].enumerated() {
            let rows = try fleet.server.psql(as: PostgresServer.daemonRole,
                "SELECT count(*) FROM audit WHERE action = 'secret.release' AND outcome = 'granted' AND host = 'host-\(name)';")
            let n = Int(rows.out.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
            #expect(n >= acks(i), "host-\(name): \(n) release rows for \(acks(i)) acknowledged")
        }
        print("fleet fault rounds: acknowledged releases per host \((0..<3).map(acks))")
        let counts = try fleet.server.psql(as: PostgresServer.daemonRole, "SELECT count(*), count(DISTINCT seq), max(seq) FROM audit;")
        let c = counts.out.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "|").compactMap { Int($0) }
        #expect(c.count == 3 && c[0] == c[1] && c[1] == c[2], "\(counts.out)")
        let verified = sh([latchkeyBinary, "audit", "verify", "--database", fleet.url, "--database-password-file", fleet.daemonPasswordFile])
        #expect(verified.status == 0 && verified.out.contains("intact"), "\(verified.out) \(verified.err)")
    }

    /// The fleet's token on host A, a session for it on host C.
    private func tokenSessionOnAnotherHost(_ fleet: Fleet, notifications: Bool) throws -> (a: DaemonProcess, c: DaemonProcess, session: String, id: String) {
        let extra = notifications ? [] : ["--no-change-notifications"]
        let a = try fleet.daemon("a", extra)
        let c = try fleet.daemon("c", extra)
        #expect(a.cli(["connection", "add", "bb", "--kind", "bitbucket-server", "--url", "https://bb.example.com"]).status == 0)
        #expect(a.cli(["project", "add", "ops", "--connection", "bb", "--repo", "OPS/deploy-scripts"]).status == 0)
        #expect(a.cli(["token", "put", "bb", "--no-verify", "--username", "ci-bot"], stdin: String(repeating: "Rv4", count: 14) + "AB\n").status == 0)
        let open = c.cli(["session", "open", "ops", "--build", "far-away", "--grant", "token", "--uses", "1000", "--json"])
        let json = try JSONSerialization.jsonObject(with: Data(open.out.utf8)) as? [String: Any]
        let token = try #require(json?["token"] as? String, "\(open.err)")
        let id = try #require(json?["id"] as? String)
        #expect(c.cli(["fetch", "token"], env: ["LATCHKEY_SESSION": token]).status == 0)
        return (a, c, token, id)
    }

    /// Seconds between the newest row of `action` and the end of session `id` in the
    /// fleet's audit chain (both daemons' clocks are this machine's); nil until it ended.
    private func secondsToEnd(_ fleet: Fleet, session id: String, after action: String) throws -> Double? {
        let r = try fleet.server.psql(as: PostgresServer.daemonRole, """
            SELECT extract(epoch FROM (e.time::timestamptz - a.time::timestamptz)) FROM audit e,
                (SELECT time FROM audit WHERE action = '\(action)' ORDER BY seq DESC LIMIT 1) a
            WHERE e.action = 'session.end' AND e.session_id = '\(id)';
            """)
        return Double(r.out.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    private func waitForEnd(_ fleet: Fleet, session id: String, after action: String) throws -> Double? {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if let s = try secondsToEnd(fleet, session: id, after: action) { return s }
            usleep(50_000)
        }
        return nil
    }

    @Test(arguments: [true, false])
    func aTokenRevokedOnOneHostEndsAnotherHostsSessionWithinASecond(notifications: Bool) throws {
        let fleet = try Fleet()
        let (a, c, token, id) = try tokenSessionOnAnotherHost(fleet, notifications: notifications)
        let revoked = a.cli(["token", "revoke", "bb"])
        #expect(revoked.status == 0, "\(revoked.err)")
        let seconds = try #require(try waitForEnd(fleet, session: id, after: "token.revoke"), "host C never ended its session: \(c.log)")
        print("fleet revocation A → C (notifications \(notifications ? "on" : "off")): \(String(format: "%.3f", seconds)) s")
        #expect(seconds <= 1.0)
        let after = c.cli(["fetch", "token"], env: ["LATCHKEY_SESSION": token])
        #expect(after.status != 0 && after.out.isEmpty, "\(after.out)")
        // C recorded the end itself, with the reason a single host gives.
        let reason = try fleet.server.psql(as: PostgresServer.daemonRole, "SELECT reason FROM audit WHERE action = 'session.end' AND session_id = '\(id)';")
        #expect(reason.out.trimmingCharacters(in: .whitespacesAndNewlines) == "token-revoked")
        a.stop()
        c.stop()
    }

    @Test func aSessionRevokedFromAnotherHostEndsOnItsOwnHostAndTheFleetListsItWithItsHost() throws {
        let fleet = try Fleet()
        let (a, c, token, id) = try tokenSessionOnAnotherHost(fleet, notifications: true)
        // A lists C's session, with its host.
        let listed = a.cli(["session", "list", "--json"])
        let sessions = try JSONSerialization.jsonObject(with: Data(listed.out.utf8)) as? [[String: Any]] ?? []
        let far = try #require(sessions.first { $0["id"] as? String == id }, "\(listed.out) \(listed.err)")
        #expect(far["host"] as? String == "host-c" && far["usesLeft"] == nil)
        #expect(a.cli(["session", "list"]).out.contains("host-c"))
        #expect(c.cli(["session", "list", "--json"]).out.contains("\"usesLeft\""), "C knows its own count")

        let revoked = a.cli(["session", "revoke", id])
        #expect(revoked.status == 0, "\(revoked.err)")
        let seconds = try #require(try waitForEnd(fleet, session: id, after: "session.revoke"), "host C never ended its session: \(c.log)")
        print("fleet session revoke A → C: \(String(format: "%.3f", seconds)) s")
        #expect(seconds <= 1.0)
        #expect(c.cli(["fetch", "token"], env: ["LATCHKEY_SESSION": token]).status != 0)
        #expect(!a.cli(["session", "list"]).out.contains(id))
        // An unknown id is still a 404.
        #expect(a.cli(["session", "revoke", "s_nosuchsession"]).status != 0)
        a.stop()
        c.stop()
    }

    @Test func aProjectRemovedOnOneHostCountsAndEndsAnotherHostsSessions() throws {
        let fleet = try Fleet()
        let (a, c, token, id) = try tokenSessionOnAnotherHost(fleet, notifications: true)
        let refused = a.cli(["project", "remove", "ops"])
        #expect(refused.status != 0 && refused.err.contains("1 live session"), "C's session counts on A: \(refused.err)")
        #expect(a.cli(["project", "remove", "ops", "--force"]).status == 0)
        let seconds = try #require(try waitForEnd(fleet, session: id, after: "project.remove"), "host C never ended its session: \(c.log)")
        #expect(seconds <= 1.0)
        let reason = try fleet.server.psql(as: PostgresServer.daemonRole, "SELECT reason FROM audit WHERE action = 'session.end' AND session_id = '\(id)';")
        #expect(reason.out.trimmingCharacters(in: .whitespacesAndNewlines) == "project-removed")
        #expect(c.cli(["fetch", "token"], env: ["LATCHKEY_SESSION": token]).status != 0)
        a.stop()
        c.stop()
    }

    @Test func aDaemonsRestartEndsOnlyItsOwnHostsSessions() throws {
        let fleet = try Fleet()
        let (a, c, token, id) = try tokenSessionOnAnotherHost(fleet, notifications: true)
        let mine = a.cli(["session", "open", "ops", "--build", "near", "--grant", "token", "--json"])
        let mineID = try #require((try JSONSerialization.jsonObject(with: Data(mine.out.utf8)) as? [String: Any])?["id"] as? String)
        a.stop()
        let again = try fleet.daemon("a")
        // A's start ended A's session (daemon-restart), not C's, which still releases.
        let ended = try fleet.server.psql(as: PostgresServer.daemonRole, "SELECT id, end_reason FROM session WHERE ended_at IS NOT NULL ORDER BY id;")
        #expect(ended.out.contains(mineID + "|daemon-restart") && !ended.out.contains(id), "\(ended.out)")
        usleep(700_000)  // longer than the feed's poll: C saw A's session end and kept its own
        #expect(c.cli(["fetch", "token"], env: ["LATCHKEY_SESSION": token]).status == 0)
        again.stop()
        c.stop()
    }

    @Test func aMasterKeyRotationOnOneHostIsTakenUpByTheOthersWithoutARestart() throws {
        let fleet = try Fleet()
        let (a, c, token, _) = try tokenSessionOnAnotherHost(fleet, notifications: true)
        let rotated = a.cli(["master-key", "rotate", "--json"])
        #expect(rotated.status == 0, "\(rotated.err)")
        // C's live session (its secret pinned under the old generation) still releases,
        // and so does a session C opens now, on data keys re-wrapped under the new one.
        let secret = String(repeating: "Rv4", count: 14) + "AB"
        #expect(c.cli(["fetch", "token"], env: ["LATCHKEY_SESSION": token]).out == "ci-bot\n\(secret)\n")
        let open = c.cli(["session", "open", "ops", "--build", "after-rotate", "--grant", "token", "--json"])
        let fresh = try #require((try JSONSerialization.jsonObject(with: Data(open.out.utf8)) as? [String: Any])?["token"] as? String, "\(open.err)")
        #expect(c.cli(["fetch", "token"], env: ["LATCHKEY_SESSION": fresh]).out == "ci-bot\n\(secret)\n")
        #expect(c.log.contains("now in use"), "C logged that it took up the new generation")
        // C seals under the new generation: a token it puts releases on A, and C can rotate in turn.
        let second = String(repeating: "Nw2", count: 14) + "CD"
        #expect(c.cli(["token", "put", "bb", "--no-verify", "--username", "ci-bot"], stdin: second + "\n").status == 0)
        let onA = a.cli(["session", "open", "ops", "--build", "on-a", "--grant", "token", "--json"])
        let aToken = try #require((try JSONSerialization.jsonObject(with: Data(onA.out.utf8)) as? [String: Any])?["token"] as? String, "\(onA.err)")
        #expect(a.cli(["fetch", "token"], env: ["LATCHKEY_SESSION": aToken]).out == "ci-bot\n\(second)\n")
        let again = c.cli(["master-key", "rotate"])
        #expect(again.status == 0, "\(again.err)")
        usleep(300_000)
        #expect(a.cli(["fetch", "token"], env: ["LATCHKEY_SESSION": aToken]).out == "ci-bot\n\(second)\n")
        let generations = try fleet.server.psql(as: PostgresServer.daemonRole, "SELECT generation FROM key_generation;")
        #expect(generations.out.trimmingCharacters(in: .whitespacesAndNewlines) == "3", "\(generations.out)")
        a.stop()
        c.stop()
        let verified = sh([latchkeyBinary, "audit", "verify", "--database", fleet.url, "--database-password-file", fleet.daemonPasswordFile])
        #expect(verified.status == 0, "\(verified.out) \(verified.err)")
    }

    @Test func aDaemonThatCannotLogInOrTrustTheServerRefusesToStart() throws {
        let fleet = try Fleet()
        let root = fleet.root
        let policies = root + "/policies"
        mkdir(policies, 0o755)
        func serve(_ extra: [String], env: [String: String] = [:]) -> ToolResult {
            sh([latchkeyBinary, "serve", "--data-dir", root + "/host-x", "--policies", policies, "--socket", root + "/x.sock", "--key-file", fleet.keyFile]
                + extra, env: env)
        }
        // A wrong password.
        let wrong = root + "/wrong-password"
        try "not-the-daemon-password\n".write(toFile: wrong, atomically: false, encoding: .utf8)
        chmod(wrong, 0o600)
        let refused = serve(["--database", fleet.url, "--database-password-file", wrong])
        #expect(refused.status != 0)
        #expect(refused.err.contains("28P01") && refused.err.contains("--database-password-file"), "\(refused.err)")
        #expect(!refused.err.contains("not-the-daemon-password"))
        // A server certificate from a CA the URL does not trust.
        let untrusted = fleet.server.url(role: PostgresServer.daemonRole, query: "sslmode=verify-full&sslrootcert=\(fleet.server.otherCAPath)")
        let distrusted = serve(["--database", untrusted, "--database-password-file", fleet.daemonPasswordFile])
        #expect(distrusted.status != 0)
        #expect(distrusted.err.contains("not trusted") && distrusted.err.contains("sslrootcert"), "\(distrusted.err)")
        // The same URL through LATCHKEY_DATABASE.
        let fromEnvironment = serve(["--database-password-file", fleet.daemonPasswordFile], env: ["LATCHKEY_DATABASE": untrusted])
        #expect(fromEnvironment.status != 0 && fromEnvironment.err.contains("not trusted"), "\(fromEnvironment.err)")
        // A password in the URL is refused before anything is tried, and not repeated.
        let inURL = serve(["--database", "postgresql://latchkey_daemon:hunter2@127.0.0.1:\(fleet.server.port)/latchkey"])
        #expect(inURL.status != 0 && inURL.err.contains("--database-password-file") && !inURL.err.contains("hunter2"), "\(inURL.err)")
        // Nothing listened and no store was made in the host's directory.
        #expect(!FileManager.default.fileExists(atPath: root + "/x.sock"))
        #expect(!FileManager.default.fileExists(atPath: root + "/host-x/latchkey.db"))
    }

    @Test func aDaemonRefusesADatabaseAtAnotherSchemaVersion() throws {
        let fleet = try Fleet()
        let policies = fleet.root + "/policies"
        mkdir(policies, 0o755)
        func serve() -> ToolResult {
            sh([
                latchkeyBinary, "serve", "--data-dir", fleet.root + "/host-y", "--policies", policies, "--socket", fleet.root + "/y.sock",
                "--key-file", fleet.keyFile, "--database", fleet.url, "--database-password-file", fleet.daemonPasswordFile,
            ])
        }
        let current = try fleet.server.psql(as: PostgresServer.ownerRole, "SELECT value FROM metadata WHERE key = 'schema_version';")
        let version = try #require(Int(current.out.trimmingCharacters(in: .whitespacesAndNewlines)))
        // Newer than this build: upgrade latchkey.
        _ = try fleet.server.psql(as: PostgresServer.ownerRole, "UPDATE metadata SET value = '\(version + 1)' WHERE key = 'schema_version';")
        let newer = serve()
        #expect(newer.status != 0 && newer.err.contains("\(version + 1)"), "\(newer.err)")
        // Older: the owner runs init --database to migrate; the daemon never does.
        _ = try fleet.server.psql(as: PostgresServer.ownerRole, "UPDATE metadata SET value = '\(version - 1)' WHERE key = 'schema_version';")
        let older = serve()
        #expect(older.status != 0 && older.err.contains("latchkey init --database"), "\(older.err)")
        let after = try fleet.server.psql(as: PostgresServer.ownerRole, "SELECT value FROM metadata WHERE key = 'schema_version';")
        #expect(after.out.trimmingCharacters(in: .whitespacesAndNewlines) == String(version - 1))
        // A database with no store at all: what to run, and where.
        let empty = try fleet.server.createDatabase()
        let none = sh([
            latchkeyBinary, "serve", "--data-dir", fleet.root + "/host-y", "--policies", policies, "--socket", fleet.root + "/y.sock",
            "--key-file", fleet.keyFile, "--database", fleet.server.url(role: PostgresServer.daemonRole, database: empty, query: "sslmode=require"),
            "--database-password-file", fleet.daemonPasswordFile,
        ])
        #expect(none.status != 0 && none.err.contains("no store in") && none.err.contains("latchkey init --database"), "\(none.err)")
        #expect(!FileManager.default.fileExists(atPath: fleet.root + "/y.sock"))
    }

    @Test func aStoreCopiedToPostgreSQLAndBackReleasesTheSameSealedSecrets() throws {
        // A one-host store on SQLite, with a token.
        let single = try DaemonProcess()
        #expect(single.cli(["connection", "add", "bb", "--kind", "bitbucket-server", "--url", "https://bb.example.com"]).status == 0)
        #expect(single.cli(["project", "add", "ops", "--connection", "bb", "--repo", "OPS/deploy-scripts"]).status == 0)
        let secret = String(repeating: "Cp7", count: 14) + "AB"
        #expect(single.cli(["token", "put", "bb", "--no-verify", "--username", "ci-bot"], stdin: secret + "\n").status == 0)
        single.stop()

        // Into an empty PostgreSQL database, as its owner; then the daemon role granted.
        let server = try PostgresServer()
        let ownerURL = server.url(role: PostgresServer.ownerRole)
        let ownerPassword = try server.passwordFile(role: PostgresServer.ownerRole)
        let copied = sh([latchkeyBinary, "store", "copy", "--from", "sqlite:" + single.dataDir, "--to", ownerURL, "--to-password-file", ownerPassword])
        #expect(copied.status == 0, "\(copied.err)")
        #expect(copied.out.contains("audit chain verified on both"), "\(copied.out)")
        let granted = sh([
            latchkeyBinary, "init", "--database", ownerURL, "--database-password-file", ownerPassword, "--data-dir", single.root + "/owner",
            "--grant-to", PostgresServer.daemonRole,
        ])
        #expect(granted.status == 0 && granted.out.contains("already holds a store"), "\(granted.err)")
        // A second copy into it is refused, and leaves it as it was.
        let again = sh([latchkeyBinary, "store", "copy", "--from", "sqlite:" + single.dataDir, "--to", ownerURL, "--to-password-file", ownerPassword])
        #expect(again.status != 0 && again.err.contains("not empty"), "\(again.err)")

        // A daemon on the copy releases the token sealed on SQLite, with the same master key,
        // and adds rows of its own (the identity sequences were moved past the copied ids).
        let daemonURL = server.url(role: PostgresServer.daemonRole)
        let daemonPassword = try server.passwordFile(role: PostgresServer.daemonRole)
        let onPostgres = try DaemonProcess(
            serveArguments: ["--database", daemonURL, "--database-password-file", daemonPassword], dataDir: single.root + "/pg-host",
            keyFile: single.keyFile)
        let open = onPostgres.cli(["session", "open", "ops", "--build", "copy-1", "--grant", "token", "--json"])
        let token = try #require((try JSONSerialization.jsonObject(with: Data(open.out.utf8)) as? [String: Any])?["token"] as? String, "\(open.err)")
        #expect(onPostgres.cli(["fetch", "token"], env: ["LATCHKEY_SESSION": token]).out == "ci-bot\n\(secret)\n")
        let added = onPostgres.cli(["connection", "add", "gl", "--kind", "gitlab", "--url", "https://gl.example.com"])
        #expect(added.status == 0, "\(added.err)")
        #expect(onPostgres.cli(["project", "add", "web", "--connection", "gl", "--repo", "web/site"]).status == 0)
        onPostgres.stop()

        // And back to SQLite, in a new data directory: the same secrets, the rows added there.
        let back = single.root + "/back"
        let returned = sh([latchkeyBinary, "store", "copy", "--from", daemonURL, "--from-password-file", daemonPassword, "--to", "sqlite:" + back, "--json"])
        #expect(returned.status == 0, "\(returned.err)")
        let onSQLite = try DaemonProcess(dataDir: back, keyFile: single.keyFile)
        #expect(onSQLite.cli(["project", "list"]).out.contains("web"))
        let reopened = onSQLite.cli(["session", "open", "ops", "--build", "copy-2", "--grant", "token", "--json"])
        let second = try #require((try JSONSerialization.jsonObject(with: Data(reopened.out.utf8)) as? [String: Any])?["token"] as? String, "\(reopened.err)")
        #expect(onSQLite.cli(["fetch", "token"], env: ["LATCHKEY_SESSION": second]).out == "ci-bot\n\(secret)\n")
        onSQLite.stop()
        #expect(sh([latchkeyBinary, "audit", "verify", "--data-dir", back]).status == 0)
        #expect(!copied.out.contains(server.ownerPassword) && !copied.err.contains(server.ownerPassword))
    }

    @Test func whilePostgreSQLIsDownReleasesAnswer503AndTheDaemonRecoversByItself() throws {
        let fleet = try Fleet()
        let d = try fleet.daemon("outage")
        #expect(d.cli(["connection", "add", "bb", "--kind", "bitbucket-server", "--url", "https://bb.example.com"]).status == 0)
        #expect(d.cli(["project", "add", "ops", "--connection", "bb", "--repo", "OPS/deploy-scripts"]).status == 0)
        let secret = String(repeating: "Ou5", count: 14) + "AB"
        #expect(d.cli(["token", "put", "bb", "--no-verify", "--username", "ci-bot"], stdin: secret + "\n").status == 0)
        let open = d.cli(["session", "open", "ops", "--build", "outage-1", "--grant", "token", "--json"])
        let token = try #require((try JSONSerialization.jsonObject(with: Data(open.out.utf8)) as? [String: Any])?["token"] as? String, "\(open.err)")
        #expect(d.cli(["fetch", "token"], env: ["LATCHKEY_SESSION": token]).status == 0)

        // The database goes away: the daemon stays up, and nothing is released (fail closed).
        fleet.server.stop()
        let during = d.cli(["fetch", "token"], env: ["LATCHKEY_SESSION": token])
        #expect(during.status == 69, "unavailable (503): \(during.status) \(during.err)")
        #expect(during.out.isEmpty && !during.err.contains(secret))
        let refusedWrite = d.cli(["project", "add", "web", "--connection", "bb", "--repo", "web/site"])
        #expect(refusedWrite.status == 69, "\(refusedWrite.err)")

        // Back: the same daemon, no restart, releases again, and what was refused is absent.
        try fleet.server.start()
        var after = d.cli(["fetch", "token"], env: ["LATCHKEY_SESSION": token])
        let deadline = ContinuousClock.now + .seconds(10)
        while after.status != 0 && ContinuousClock.now < deadline {
            usleep(200_000)
            after = d.cli(["fetch", "token"], env: ["LATCHKEY_SESSION": token])
        }
        #expect(after.status == 0 && after.out == "ci-bot\n\(secret)\n", "\(after.err)")
        #expect(!d.cli(["project", "list"]).out.contains("web"))
        d.stop()
        let verified = sh([latchkeyBinary, "audit", "verify", "--database", fleet.url, "--database-password-file", fleet.daemonPasswordFile])
        #expect(verified.status == 0, "\(verified.out) \(verified.err)")
    }

    @Test func benchOnPostgreSQLCountsEveryReleaseRowInTheDatabase() throws {
        let server = try PostgresServer.shared()
        let empty = try server.createDatabase()
        let url = server.url(role: PostgresServer.ownerRole, database: empty)
        let password = try server.passwordFile(role: PostgresServer.ownerRole)
        for workload in ["release", "open-release-close"] {
            let r = sh([
                latchkeyBinary, "bench", "--database", url, "--database-password-file", password, "--workload", workload,
                "--duration", "0.5", "--clients", "2", "--json",
            ])
            if workload == "open-release-close" {
                // The database now holds the first run's store: refused, not mixed into it.
                #expect(r.status != 0 && r.err.contains("already holds a store"), "\(r.err)")
                continue
            }
            #expect(r.status == 0, "\(r.err)")
            let report = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
            let result = try #require((report["workloads"] as? [[String: Any]])?.first)
            #expect(result["auditMatches"] as? Bool == true, "\(result)")
            #expect((result["requests"] as? Int ?? 0) > 0 && (report["offline"] as? [Any])?.isEmpty == true, "\(r.out)")
        }
        let other = try server.createDatabase()
        let both = sh([
            latchkeyBinary, "bench", "--database", server.url(role: PostgresServer.ownerRole, database: other), "--database-password-file", password,
            "--workload", "open-release-close", "--duration", "0.5", "--clients", "2", "--json",
        ])
        #expect(both.status == 0, "\(both.err)")
        #expect(both.out.contains("\"auditMatches\" : true"), "\(both.out)")
        #expect(!both.out.contains(server.ownerPassword) && !both.err.contains(server.ownerPassword))
    }

    @Test func aDaemonKilledMidLoadLosesNoAcknowledgedReleaseAndTheNextGoesOn() throws {
        let fleet = try Fleet()
        let a = try fleet.daemon("killed")
        #expect(a.cli(["connection", "add", "bb", "--kind", "bitbucket-server", "--url", "https://bb.example.com"]).status == 0)
        #expect(a.cli(["project", "add", "ops", "--connection", "bb", "--repo", "OPS/deploy-scripts"]).status == 0)
        #expect(a.cli(["token", "put", "bb", "--no-verify", "--username", "ci-bot"], stdin: String(repeating: "Kl9", count: 14) + "AB\n").status == 0)
        let open = a.cli(["session", "open", "ops", "--build", "load", "--grant", "token", "--uses", "100000", "--json"])
        let token = try #require((try JSONSerialization.jsonObject(with: Data(open.out.utf8)) as? [String: Any])?["token"] as? String, "\(open.err)")
        // Two builds redeem in a loop; each acknowledged release is counted as it returns.
        let acks = fleet.root + "/acks"
        let loop = "while :; do \"$1\" fetch token --socket \"$2\" > /dev/null 2>&1 && echo ok >> \"$3\"; done"
        var environment = ProcessInfo.processInfo.environment
        environment["LATCHKEY_SESSION"] = token
        let loaders = (0..<2).compactMap { _ in
            spawn(["/bin/bash", "-c", loop, "load", latchkeyBinary, a.socket, acks], environment: environment, stdoutPath: "/dev/null", stderrPath: "/dev/null")
        }
        #expect(loaders.count == 2)
        let deadline = ContinuousClock.now + .seconds(20)
        while ((try? String(contentsOfFile: acks, encoding: .utf8))?.count ?? 0) < 3 * 40 && ContinuousClock.now < deadline { usleep(50_000) }
        a.kill9()
        for l in loaders { kill(l, SIGKILL); _ = waitFor(l) }
        let acknowledged = ((try? String(contentsOfFile: acks, encoding: .utf8)) ?? "").split(separator: "\n").count
        #expect(acknowledged >= 40, "the load ran: \(acknowledged) releases")
        let counted = try fleet.server.psql(as: PostgresServer.daemonRole, "SELECT count(*) FROM audit WHERE action = 'secret.release' AND outcome = 'granted';")
        let rows = Int(counted.out.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        #expect(rows >= acknowledged, "every acknowledged release has its row: \(rows) rows, \(acknowledged) acknowledged")

        // The next daemon starts on the chain as the killed one left it, and serves (a new
        // session: a session lives in the daemon that opened it).
        let b = try fleet.daemon("next")
        let reopened = b.cli(["session", "open", "ops", "--build", "after", "--grant", "token", "--json"])
        let second = try #require((try JSONSerialization.jsonObject(with: Data(reopened.out.utf8)) as? [String: Any])?["token"] as? String, "\(reopened.err)")
        let again = b.cli(["fetch", "token"], env: ["LATCHKEY_SESSION": second])
        #expect(again.status == 0, "\(again.err)")
        b.stop()
        let verified = sh([latchkeyBinary, "audit", "verify", "--database", fleet.url, "--database-password-file", fleet.daemonPasswordFile])
        #expect(verified.status == 0, "\(verified.out) \(verified.err)")
    }

    @Test func storeCopyRefusesWhatItCannotCopyWithWhatToDo() throws {
        let single = try DaemonProcess()
        single.stop()
        let root = single.root
        let copy = { (args: [String]) in sh([latchkeyBinary, "store", "copy"] + args) }
        let scheme = copy(["--from", "sqlite:" + single.dataDir, "--to", "mysql://db/latchkey"])
        #expect(scheme.status != 0 && scheme.err.contains("--to must be sqlite:DIR or postgresql://"), "\(scheme.err)")
        let bare = copy(["--from", "sqlite:", "--to", "sqlite:" + root + "/x"])
        #expect(bare.status != 0 && bare.err.contains("--from sqlite: needs a data directory"), "\(bare.err)")
        let missing = copy(["--from", "sqlite:" + root + "/nothing-here", "--to", "sqlite:" + root + "/y"])
        #expect(missing.status != 0 && missing.err.contains("no store in"), "\(missing.err)")
        // Onto a store that already holds one: refused, and that store is left as it was.
        let other = try DaemonProcess()
        other.stop()
        let before = sh(["sqlite3", other.dataDir + "/latchkey.db", "SELECT count(*) FROM audit"]).out
        let occupied = copy(["--from", "sqlite:" + single.dataDir, "--to", "sqlite:" + other.dataDir])
        #expect(occupied.status != 0 && occupied.err.contains("store copy only fills an empty store"), "\(occupied.err)")
        #expect(sh(["sqlite3", other.dataDir + "/latchkey.db", "SELECT count(*) FROM audit"]).out == before)
    }
}
