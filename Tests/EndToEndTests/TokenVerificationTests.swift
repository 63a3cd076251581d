import Foundation
import LatchkeyTestSupport
import SCMFakes
import Testing

/// `token put` asks the server about a new token before storing it, and the daemon asks
/// again every day (here: every two seconds): the `latchkey` binary, a real `latchkey
/// serve`, and a fake of each server over real TLS on loopback.
@Suite(.serialized) struct TokenVerificationTests {
    struct Setup {
        let pki: TestPKI
        let fake: FakeSCMServer
        let daemon: DaemonProcess
        let token: String
    }

    /// A fake whose user `ci-bot` holds `token` (with `expiresAt` as the server reports
    /// it), a connection `scm1` trusting the fake's CA, and no token stored yet.
    static func setUp(_ kind: FakeKind, expiresAt: String? = nil, serveArguments: [String] = []) async throws -> Setup {
        let pki = try TestPKI.make()
        let fake = try await FakeSCMServer.start(kind: kind, certificate: try pki.serverCertificate())
        let token = SCMEndToEndTests.token(kind)
        let scopes: [String]? =
            switch kind {
            case .githubEnterprise: ["repo", "admin:repo_hook"]
            case .gitlab: ["api"]
            case .bitbucketServer: nil
            }
        fake.addUser("ci-bot", token: token, scopes: scopes, expiresAt: expiresAt)
        fake.addRepository(SCMEndToEndTests.repository(kind), admins: ["ci-bot"])
        let d = try DaemonProcess(serveArguments: serveArguments)
        let add = d.cli([
            "connection", "add", "scm1", "--kind", kind.rawValue, "--url", fake.webURL, "--api-url", fake.apiURL, "--ca-file", pki.caCertificate,
        ])
        #expect(add.status == 0, "\(add.err)")
        return Setup(pki: pki, fake: fake, daemon: d, token: token)
    }

    static func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "not a JSON object: \(text)")
    }

    static func tokens(_ d: DaemonProcess) throws -> [[String: Any]] {
        let list = d.cli(["token", "list", "--json"])
        #expect(list.status == 0, "\(list.err)")
        return try #require(try JSONSerialization.jsonObject(with: Data(list.out.utf8)) as? [[String: Any]])
    }

    @Test(arguments: FakeKind.allCases)
    func tokenPutAsksTheServerAndRecordsWhatItSaid(kind: FakeKind) async throws {
        let s = try await Self.setUp(kind)
        defer { s.pki.remove() }
        let d = s.daemon
        let put = d.cli(["token", "put", "scm1", "--username", "ci-bot", "--json"], stdin: s.token + "\n")
        #expect(put.status == 0, "\(put.err)")
        let info = try Self.json(put.out)
        let v = try #require(info["verification"] as? [String: Any])
        #expect(v["state"] as? String == "ok")
        #expect(v["user"] as? String == "ci-bot")
        #expect(!put.err.contains("NOT verified"), "\(put.err)")
        // The server was asked with the candidate token, before it was stored.
        #expect(s.fake.requests.first?.header("authorization") == "Bearer \(s.token)")
        // token list shows it, in its JSON and its table.
        let listed = try #require(try Self.tokens(d).first)
        #expect((listed["verification"] as? [String: Any])?["state"] as? String == "ok")
        let table = d.cli(["token", "list"])
        #expect(table.out.contains("VERIFIED") && table.out.contains("ok, at "), "\(table.out)")
        // The readable form of put says so too.
        let again = d.cli(["token", "put", "scm1", "--username", "ci-bot"], stdin: s.token + "\n")
        #expect(again.status == 0 && again.out.contains("verified:   ok"), "\(again.out)")
        #expect(!d.log.contains(s.token) && !put.out.contains(s.token) && !put.err.contains(s.token))
        d.stop()
        await s.fake.stop()
    }

    @Test(arguments: [FakeKind.gitlab, .githubEnterprise])
    func theServersExpiryOverridesAMistypedExpires(kind: FakeKind) async throws {
        // GitLab reports a date (`expires_at`); GitHub an expiring token's end in
        // `GitHub-Authentication-Token-Expiration`, which Latchkey floors to its day.
        let reported = kind == .gitlab ? "2027-06-30" : "2027-06-30 14:00:00 UTC"
        let s = try await Self.setUp(kind, expiresAt: reported)
        defer { s.pki.remove() }
        let d = s.daemon
        let put = d.cli(["token", "put", "scm1", "--username", "ci-bot", "--expires", "2072-06-30", "--json"], stdin: s.token + "\n")
        #expect(put.status == 0, "\(put.err)")
        let info = try Self.json(put.out)
        #expect(info["expires"] as? String == "2027-06-30", "the server's expiry is stored")
        #expect(info["expiresGiven"] as? String == "2072-06-30", "the JSON answer shows what was typed")
        #expect(put.err.contains("--expires 2072-06-30 differs from the expiry"), "\(put.err)")
        #expect((try Self.tokens(d).first)?["expires"] as? String == "2027-06-30")
        // A past --expires that the server corrects is no refusal either; the text form shows both.
        let text = d.cli(["token", "put", "scm1", "--username", "ci-bot", "--expires", "2017-06-30"], stdin: s.token + "\n")
        #expect(text.status == 0, "\(text.err)")
        #expect(text.out.contains("expires:    2027-06-30 (the server's; --expires said 2017-06-30)"), "\(text.out)")
        // No --expires: the server's is stored.
        let none = d.cli(["token", "put", "scm1", "--username", "ci-bot", "--json"], stdin: s.token + "\n")
        #expect(try Self.json(none.out)["expires"] as? String == "2027-06-30")
        d.stop()
        await s.fake.stop()
    }

    @Test(arguments: FakeKind.allCases)
    func aTokenTheServerRejectsIsRefusedAndNothingIsStored(kind: FakeKind) async throws {
        let s = try await Self.setUp(kind)
        defer { s.pki.remove() }
        let d = s.daemon
        let wrong = String(SCMEndToEndTests.token(kind).dropLast(4)) + "ZZZZ"
        let put = d.cli(["token", "put", "scm1", "--username", "ci-bot"], stdin: wrong + "\n")
        #expect(put.status != 0)
        #expect(put.err.contains("token_rejected") && put.err.contains("401") && put.err.contains("nothing was stored"), "\(put.err)")
        #expect(put.err.contains("--no-verify"), "the error says how to store it anyway: \(put.err)")
        #expect(try Self.tokens(d).isEmpty, "nothing stored")
        let audit = d.cli(["audit", "list", "--action", "token.put", "--json"])
        #expect(audit.out.contains("token_rejected") && audit.out.contains("\"failed\""), "\(audit.out)")
        #expect(!d.log.contains(wrong) && !put.err.contains(wrong) && !audit.out.contains(wrong))
        #expect(sh(["grep", "-r", "-l", "-F", String(wrong), d.dataDir]).status == 1)
        // --no-verify stores it, unverified, and never asks the server.
        let asked = s.fake.requests.count
        let forced = d.cli(["token", "put", "scm1", "--username", "ci-bot", "--no-verify", "--json"], stdin: wrong + "\n")
        #expect(forced.status == 0, "\(forced.err)")
        #expect(try Self.json(forced.out)["verification"] == nil)
        #expect(s.fake.requests.count == asked)
        #expect(d.cli(["token", "list"]).out.contains("never"))
        d.stop()
        await s.fake.stop()
    }

    @Test func aRevokedGitLabTokenIsRejectedToo() async throws {
        let s = try await Self.setUp(.gitlab)
        defer { s.pki.remove() }
        s.fake.updateUser("ci-bot", active: false)
        let put = s.daemon.cli(["token", "put", "scm1", "--username", "ci-bot"], stdin: s.token + "\n")
        #expect(put.status != 0 && put.err.contains("token_rejected"), "\(put.err)")
        #expect(try Self.tokens(s.daemon).isEmpty)
        s.daemon.stop()
        await s.fake.stop()
    }

    @Test func anUnreachableServerStoresTheTokenSayingItWasNotVerified() async throws {
        // A closed loopback port: nothing leaves the machine, and nothing answers.
        let d = try DaemonProcess()
        let port = freePort()
        #expect(d.cli(["connection", "add", "down", "--kind", "gitlab", "--url", "https://127.0.0.1:\(port)"]).status == 0)
        let put = d.cli(["token", "put", "down", "--username", "ci-bot", "--json"], stdin: "glpat-unreachable0123456789\n")
        #expect(put.status == 0, "\(put.err)")
        #expect(put.err.contains("warning: the token was NOT verified"), "\(put.err)")
        let v = try #require(try Self.json(put.out)["verification"] as? [String: Any])
        #expect(v["state"] as? String == "unreachable")
        #expect((v["message"] as? String)?.contains("127.0.0.1:\(port)") == true, "\(v)")
        #expect(d.cli(["token", "list"]).out.contains("UNREACHABLE (not verified)"))
        // A missing scope is a warning, not a refusal: see the next test's set-up.
        d.stop()
    }

    @Test func aTokenLackingWhatTheProjectsNeedIsStoredWithAWarning() async throws {
        let s = try await Self.setUp(.gitlab)
        defer { s.pki.remove() }
        let d = s.daemon
        #expect(d.cli(["project", "add", "web", "--connection", "scm1", "--repo", "acme/platform/web", "--install-deploy-key"]).status == 0)
        s.fake.updateUser("ci-bot", scopes: .some(["read_api"]))
        let put = d.cli(["token", "put", "scm1", "--username", "ci-bot", "--json"], stdin: s.token + "\n")
        #expect(put.status == 0, "\(put.err)")
        #expect(put.err.contains("lacks scope api"), "\(put.err)")
        let v = try #require(try Self.json(put.out)["verification"] as? [String: Any])
        #expect(v["state"] as? String == "missing-scopes")
        d.stop()
        await s.fake.stop()
    }

    @Test func connectionVerifyUpdatesWhatTokenListShows() async throws {
        let s = try await Self.setUp(.githubEnterprise)
        defer { s.pki.remove() }
        let d = s.daemon
        #expect(d.cli(["token", "put", "scm1", "--username", "ci-bot", "--no-verify"], stdin: s.token + "\n").status == 0)
        #expect(try Self.tokens(d).first?["verification"] == nil)
        #expect(d.cli(["connection", "verify", "scm1"]).status == 0)
        let v = try #require(try Self.tokens(d).first?["verification"] as? [String: Any])
        #expect(v["state"] as? String == "ok" && v["user"] as? String == "ci-bot")
        d.stop()
        await s.fake.stop()
    }

    @Test func theDueTimeIsKeptInTheStoreSoARestartNeitherResetsNorRushesIt() async throws {
        let s = try await Self.setUp(.gitlab)
        defer { s.pki.remove() }
        let d = s.daemon
        #expect(d.cli(["token", "put", "scm1", "--username", "ci-bot"], stdin: s.token + "\n").status == 0)
        let first = try #require(try Self.tokens(d).first?["verification"] as? [String: Any])
        d.stop()
        // A restart before the interval has passed asks nothing.
        let restarted = try DaemonProcess(serveArguments: ["--token-verify-interval", "1h"], dataDir: d.dataDir, keyFile: d.keyFile)
        sleep(7)  // more than a housekeeping pass
        let none = restarted.cli(["audit", "list", "--action", "token.verify", "--json"])
        #expect(none.status == 0 && !none.out.contains("token.verify"), "\(none.out)")
        restarted.stop()
        // One started after it has passed checks at once (from the check time in the store).
        sleep(2)
        let late = try DaemonProcess(serveArguments: ["--token-verify-interval", "2s"], dataDir: d.dataDir, keyFile: d.keyFile)
        var again: [String: Any]?
        for _ in 0..<60 {
            if let v = try Self.tokens(late).first?["verification"] as? [String: Any], (v["checkedAt"] as? String ?? "") > (first["checkedAt"] as? String ?? "") {
                again = v
                break
            }
            usleep(500_000)
        }
        #expect(again?["state"] as? String == "ok", "re-verified after the restart: \(late.log)")
        late.stop()
        await s.fake.stop()
    }

    /// Waits (up to `seconds`) until the token's verification reaches `state`.
    static func waitForVerification(_ d: DaemonProcess, _ state: String, seconds: Int = 40) throws -> [String: Any]? {
        for _ in 0..<(seconds * 4) {
            if let v = try tokens(d).first?["verification"] as? [String: Any], v["state"] as? String == state { return v }
            usleep(250_000)
        }
        return nil
    }

    @Test func theDaemonReverifiesTokensAndTokenListShowsWhatChanged() async throws {
        let s = try await Self.setUp(.gitlab, serveArguments: ["--token-verify-interval", "2s"])
        defer { s.pki.remove() }
        let d = s.daemon
        #expect(d.cli(["project", "add", "web", "--connection", "scm1", "--repo", "acme/platform/web", "--install-deploy-key"]).status == 0)
        #expect(d.cli(["token", "put", "scm1", "--username", "ci-bot"], stdin: s.token + "\n").status == 0)
        let first = try #require(try Self.tokens(d).first?["verification"] as? [String: Any])
        #expect(first["state"] as? String == "ok")

        // An admin of the server drops the api scope: the next check says what is missing.
        s.fake.updateUser("ci-bot", scopes: .some(["read_api"]))
        let missing = try #require(try Self.waitForVerification(d, "missing-scopes"), "re-verified: \(d.log)")
        #expect((missing["missing"] as? [String])?.first?.contains("scope api") == true, "\(missing)")
        #expect(d.cli(["token", "list"]).out.contains("MISSING scope api"))
        #expect(d.log.contains("no longer covers its projects"), "\(d.log)")

        // Then revokes it: rejected, logged (never the token).
        s.fake.updateUser("ci-bot", active: false)
        _ = try #require(try Self.waitForVerification(d, "rejected"), "re-verified: \(d.log)")
        #expect(d.cli(["token", "list"]).out.contains("REJECTED"))
        #expect(d.log.contains("REJECTED by the server"), "\(d.log)")
        let audit = d.cli(["audit", "list", "--action", "token.verify", "--json", "--limit", "1000"])
        #expect(audit.out.contains("\"missing-scopes\"") && audit.out.contains("\"rejected\""), "\(audit.out)")

        // Restored on the server: ok again, and the check time moves on.
        s.fake.updateUser("ci-bot", scopes: .some(["api"]), active: true)
        let ok = try #require(try Self.waitForVerification(d, "ok"))
        #expect((ok["checkedAt"] as? String ?? "") > (first["checkedAt"] as? String ?? ""))
        #expect(!d.log.contains(s.token) && !audit.out.contains(s.token))
        d.stop()
        await s.fake.stop()
    }
}
