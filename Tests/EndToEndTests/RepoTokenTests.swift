import Foundation
import LatchkeyTestSupport
import Synchronization
import SCMFakes
import Testing

/// The `repo-token` grant through the real daemon and the CLI, against each faked
/// server: minted at the build's first redeem, reaching its one repository, revoked on the
/// server however the session ends — also after a `kill -9`.
@Suite(.serialized) struct RepoTokenTests {
    static let policy = """
        version: 1
        admins: { users: [$daemon] }
        auditors: { users: [$daemon] }
        runners:
          - name: local
            who: { users: [$daemon] }
            projects: ["*"]
            grants: [deploy-key, token, repo-token]
            max_ttl: 2h
            max_uses: 100
            builds: { users: [$daemon] }
            repo_token: { permissions: [contents:read, metadata:read, read_repository, reporter, REPO_READ] }
        """

    struct Setup {
        let pki: TestPKI
        let fake: FakeSCMServer
        let daemon: DaemonProcess
        let token: String
        let appKey: String?
        let kind: FakeKind

        var repository: String { SCMEndToEndTests.repository(kind) }

        func remove() {
            pki.remove()
            if let appKey { try? FileManager.default.removeItem(atPath: appKey) }
        }
    }

    static func other(_ kind: FakeKind) -> String {
        switch kind {
        case .githubEnterprise: "acme/other"
        case .gitlab: "acme/platform/other"
        case .bitbucketServer: "ACME/other"
        }
    }

    /// A fake with the repository and another, a daemon with the connection, its token,
    /// the project, and for GitHub Enterprise an App installed on both repositories.
    static func setUp(_ kind: FakeKind) async throws -> Setup {
        setenv("LATCHKEY_SCM_REMOVAL_BACKOFF", "1", 1)
        let pki = try TestPKI.make()
        let fake = try await FakeSCMServer.start(kind: kind, certificate: try pki.serverCertificate())
        let token = SCMEndToEndTests.token(kind)
        let scopes: [String]? = kind == .githubEnterprise ? ["repo"] : kind == .gitlab ? ["api"] : nil
        fake.addUser("ci-bot", token: token, scopes: scopes)
        fake.addRepository(SCMEndToEndTests.repository(kind), admins: ["ci-bot"])
        fake.addRepository(other(kind), admins: ["ci-bot"])
        let d = try DaemonProcess(policy: policy)
        #expect(d.cli(["connection", "add", "scm1", "--kind", kind.rawValue, "--url", fake.webURL, "--api-url", fake.apiURL, "--ca-file", pki.caCertificate]).status == 0)
        #expect(d.cli(["token", "put", "scm1", "--username", "ci-bot"], stdin: token + "\n").status == 0)
        #expect(d.cli(["project", "add", "web", "--connection", "scm1", "--repo", SCMEndToEndTests.repository(kind)]).status == 0)
        var appKey: String?
        if kind == .githubEnterprise {
            let dir = makeTempDirectory("app")
            appKey = dir
            #expect(sh(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", dir + "/app.pem"]).status == 0)
            #expect(sh(["openssl", "pkey", "-in", dir + "/app.pem", "-pubout", "-out", dir + "/app.pub.pem"]).status == 0)
            fake.addGitHubApp(
                id: 4242, publicKeyPath: dir + "/app.pub.pem", installationID: 77, account: "acme",
                repositories: [SCMEndToEndTests.repository(kind), other(kind)], permissions: ["contents": "write", "metadata": "read"])
            let pem = try String(contentsOfFile: dir + "/app.pem", encoding: .utf8)
            let put = d.cli(["connection", "app", "put", "scm1", "--app-id", "4242"], stdin: pem)
            #expect(put.status == 0 && put.out.contains("stored GitHub App 4242 key v1"), "\(put.err)")
        }
        return Setup(pki: pki, fake: fake, daemon: d, token: token, appKey: appKey, kind: kind)
    }

    static func open(_ d: DaemonProcess, _ extra: [String] = []) throws -> (id: String, token: String) {
        let r = d.cli(["session", "open", "web", "--build", "b1", "--grant", "repo-token", "--json"] + extra)
        let o = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any], "\(r.err)")
        return (try #require(o["id"] as? String), try #require(o["token"] as? String))
    }

    static func fetch(_ d: DaemonProcess, _ session: String) throws -> [String: Any] {
        let r = d.cli(["fetch", "repo-token", "--json"], env: ["LATCHKEY_SESSION": session])
        return try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any], "\(r.err)")
    }

    static func minted(_ d: DaemonProcess, all: Bool = true) throws -> [[String: Any]] {
        let r = d.cli(["token", "list", "--minted", "--json"] + (all ? ["--all"] : []))
        return try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [[String: Any]], "\(r.err)")
    }

    /// The repository's API path on the server, as the token's user would call it.
    static func apiPath(_ kind: FakeKind, _ repository: String) -> String {
        switch kind {
        case .githubEnterprise: "/api/v3/repos/\(repository)"
        case .gitlab: "/api/v4/projects/" + repository.replacingOccurrences(of: "/", with: "%2F")
        case .bitbucketServer:
            "/rest/api/1.0/projects/\(repository.split(separator: "/")[0])/repos/\(repository.split(separator: "/")[1])"
        }
    }

    /// The build's own use of its token: `latchkey exec --token-env GIT_TOKEN -- sh -c …`,
    /// curl reading the header from stdin (the token is in no argv); the HTTP status.
    static func statusThroughExec(_ s: Setup, session: String, repository: String) -> String {
        let url = "https://127.0.0.1:\(s.fake.port)" + apiPath(s.kind, repository)
        let script = "printf 'Authorization: Bearer %s\\n' \"$GIT_TOKEN\" | curl -s -o /dev/null -w '%{http_code}' --cacert \(s.pki.caCertificate) -H @- '\(url)'"
        let r = s.daemon.cli(["exec", "--ssh", "none", "--token-env", "GIT_TOKEN", "--", "sh", "-c", script], env: ["LATCHKEY_SESSION": session])
        return r.out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test(arguments: FakeKind.allCases)
    func aBuildGetsATokenForItsRepositoryOnlyMintedAtItsFirstRedeemAndRevokedWhenTheSessionCloses(kind: FakeKind) async throws {
        let s = try await Self.setUp(kind)
        defer { s.remove() }
        let d = s.daemon
        let session = try Self.open(d)
        #expect(s.fake.liveMintedTokens == 0, "nothing is minted before the build asks")

        let first = try Self.fetch(d, session.token)
        let value = try #require(first["token"] as? String)
        #expect(first["repository"] as? String == s.repository)
        #expect(first["kind"] as? String == kind.rawValue)
        #expect(first["connection"] as? String == "scm1")
        let expected = kind == .githubEnterprise ? ["contents:read"] : kind == .gitlab ? ["read_repository", "reporter"] : ["REPO_READ"]
        #expect(first["permissions"] as? [String] == expected)
        #expect(s.fake.liveMintedTokens == 1)
        // A second redeem releases the same token: one mint per session.
        #expect(try Self.fetch(d, session.token)["token"] as? String == value)
        #expect(s.fake.liveMintedTokens == 1)
        switch kind {
        case .githubEnterprise:
            #expect(s.fake.installationTokens.first?.repositories == [s.repository])
            let jwt = try #require(s.fake.acceptedJWTs.first)
            #expect(jwt.iss == "4242" && jwt.exp - jwt.iat == 600)
        case .gitlab:
            let t = try #require(s.fake.projectTokens.first)
            #expect(t.name == "latchkey-\(session.id)" && t.accessLevel == 20 && t.scopes == ["read_repository"])
        case .bitbucketServer:
            let t = try #require(s.fake.repositoryTokens.first)
            #expect(t.name == "latchkey-\(session.id)" && t.permissions == ["REPO_READ"] && t.expiryDays == 1)
        }

        // The build's command uses it: its repository answers, the other does not.
        #expect(Self.statusThroughExec(s, session: session.token, repository: s.repository) == "200")
        #expect(Self.statusThroughExec(s, session: session.token, repository: Self.other(kind)) != "200")

        // Masked in the command's output like any released secret.
        let echoed = d.cli(["exec", "--ssh", "none", "--token-env", "GIT_TOKEN", "--", "sh", "-c", "echo \"t=$GIT_TOKEN\""], env: ["LATCHKEY_SESSION": session.token])
        #expect(echoed.status == 0 && echoed.out.hasPrefix("t=") && !echoed.out.contains(value), "\(echoed.out)")

        // Admins see it live, by its server id, never its value.
        let listed = try Self.minted(d, all: false)
        #expect(listed.count == 1 && listed.first?["state"] as? String == "live" && listed.first?["sessionId"] as? String == session.id)
        let sessions = d.cli(["session", "list"])
        #expect(sessions.out.contains(session.id) && sessions.out.contains("live") && !sessions.out.contains(value))

        #expect(d.cli(["session", "close", session.id]).status == 0)
        #expect(SCMDeployKeyTests.eventually { s.fake.liveMintedTokens == 0 }, "the minted token was not revoked on the server")
        #expect(SCMDeployKeyTests.eventually { (try? Self.minted(d))?.first?["state"] as? String == "revoked" })
        #expect(Self.statusThroughExec(s, session: session.token, repository: s.repository) != "200")

        // Audited with the server's id; the token itself nowhere.
        let audit = d.cli(["audit", "export"]).out
        let serverID = try #require(listed.first?["serverTokenId"] as? String)
        #expect(audit.contains("repo-token.mint") && audit.contains("repo-token.revoke") && audit.contains("token id \(serverID)"))
        #expect(!audit.contains(value) && !d.log.contains(value) && !d.log.contains(s.token))
        d.stop()
        #expect(!d.log.contains(value))
        let store = try Data(contentsOf: URL(fileURLWithPath: d.dataDir + "/latchkey.db"))
        #expect(store.range(of: Data(value.utf8)) == nil, "the minted token is in the store in clear")
        await s.fake.stop()
    }

    @Test(arguments: FakeKind.allCases)
    func askingForMoreThanTheRuleAllowsIsRefusedNotCut(kind: FakeKind) async throws {
        let s = try await Self.setUp(kind)
        defer { s.remove() }
        let d = s.daemon
        let more = kind == .githubEnterprise ? "contents:write" : kind == .gitlab ? "write_repository" : "REPO_WRITE"
        let r = d.cli(["session", "open", "web", "--build", "b1", "--grant", "repo-token", "--permission", more])
        #expect(r.status != 0 && r.err.contains("permission_not_allowed") && r.err.contains(more), "\(r.err)")
        // Another server's permission is a clear error too.
        let foreign = kind == .bitbucketServer ? "contents:read" : "REPO_READ"
        let f = d.cli(["session", "open", "web", "--build", "b1", "--grant", "repo-token", "--permission", foreign])
        #expect(f.status != 0 && f.err.contains("invalid"), "\(f.err)")
        let open = try JSONSerialization.jsonObject(with: Data(d.cli(["session", "list", "--json"]).out.utf8)) as? [Any]
        #expect(open?.isEmpty == true, "a refused session was opened")
        #expect(s.fake.liveMintedTokens == 0)
        d.stop()
        await s.fake.stop()
    }

    @Test func aSessionEndedByItsTTLOrAnAdminsRevokeHasItsTokenRevoked() async throws {
        let s = try await Self.setUp(.gitlab)
        defer { s.remove() }
        let d = s.daemon
        let short = try Self.open(d, ["--ttl", "2s"])
        _ = try Self.fetch(d, short.token)
        let revoked = try Self.open(d)
        _ = try Self.fetch(d, revoked.token)
        #expect(s.fake.liveMintedTokens == 2)
        #expect(d.cli(["session", "revoke", revoked.id]).status == 0)
        #expect(SCMDeployKeyTests.eventually { s.fake.projectTokens.filter(\.revoked).map(\.name) == ["latchkey-\(revoked.id)"] })
        #expect(SCMDeployKeyTests.eventually { s.fake.liveMintedTokens == 0 }, "the expired session's token was not revoked")
        d.stop()
        await s.fake.stop()
    }

    @Test(arguments: [FakeKind.githubEnterprise, .gitlab, .bitbucketServer])
    func aKilledDaemonRevokesTheTokensOfTheSessionsThatDiedWithItOnceRestarted(kind: FakeKind) async throws {
        let s = try await Self.setUp(kind)
        defer { s.remove() }
        let d = s.daemon
        for _ in 0..<2 { _ = try Self.fetch(d, try Self.open(d).token) }
        #expect(s.fake.liveMintedTokens == 2)
        d.kill9()
        #expect(s.fake.liveMintedTokens == 2)
        // The restarted daemon's first attempt fails on the server; the retry succeeds.
        s.fake.failNext(.serverError, times: 1, method: "DELETE")
        try d.start()
        #expect(SCMDeployKeyTests.eventually(30) { s.fake.liveMintedTokens == 0 }, "\(s.fake.liveMintedTokens) minted token(s) left unrevoked")
        let audit = d.cli(["audit", "list", "--action", "repo-token.revoke", "--json"]).out
        #expect(audit.contains("\"failed\"") && audit.contains("\"granted\""))
        #expect(SCMDeployKeyTests.eventually { (try? Self.minted(d))?.allSatisfy { $0["state"] as? String == "revoked" } == true })
        d.stop()
        await s.fake.stop()
    }

    @Test(arguments: [FakeKind.gitlab, .bitbucketServer])
    func aTokenMintedByADaemonKilledBeforeItRecordedTheAnswerIsFoundByNameAndRevoked(kind: FakeKind) async throws {
        let s = try await Self.setUp(kind)
        defer { s.remove() }
        let d = s.daemon
        let session = try Self.open(d)
        // The server mints at once but answers slowly; the daemon dies waiting for the answer.
        s.fake.failNext(.slow(milliseconds: 4000), method: kind == .gitlab ? "POST" : "PUT", pathContains: "access")
        let out = d.root + "/fetch.out"
        var env = ProcessInfo.processInfo.environment
        env["LATCHKEY_SESSION"] = session.token
        guard let pid = spawn([latchkeyBinary, "fetch", "repo-token", "--socket", d.socket], environment: env, stdoutPath: out, stderrPath: out) else {
            throw FixtureError("cannot run the CLI")
        }
        #expect(SCMDeployKeyTests.eventually(10) { s.fake.liveMintedTokens == 1 })
        d.kill9()
        _ = waitFor(pid)
        #expect(s.fake.liveMintedTokens == 1)
        try d.start()
        #expect(SCMDeployKeyTests.eventually(30) { s.fake.liveMintedTokens == 0 }, "the unrecorded token was not found and revoked")
        let audit = d.cli(["audit", "list", "--action", "repo-token.revoke", "--json"]).out
        #expect(audit.contains("unrecorded, 1 found by name latchkey-\(session.id)"), "\(audit)")
        d.stop()
        await s.fake.stop()
    }

    @Test func aGitHubSessionLongerThanTheTokensHourGetsAFreshTokenAndTheOldOneIsRevoked() async throws {
        setenv("LATCHKEY_REPO_TOKEN_REFRESH", "2", 1)
        defer { unsetenv("LATCHKEY_REPO_TOKEN_REFRESH") }
        let s = try await Self.setUp(.githubEnterprise)
        defer { s.remove() }
        let d = s.daemon
        let session = try Self.open(d)
        let first = try #require(try Self.fetch(d, session.token)["token"] as? String)
        usleep(2_500_000)
        let second = try #require(try Self.fetch(d, session.token)["token"] as? String)
        #expect(first != second)
        #expect(SCMDeployKeyTests.eventually { s.fake.installationTokens.first { $0.token == first }?.revoked == true }, "the replaced token was not revoked")
        #expect(s.fake.installationTokens.first { $0.token == second }?.revoked == false)
        // Revoking the App key ends the session, and its token leaves the server.
        let revoke = d.cli(["connection", "app", "revoke", "scm1"])
        #expect(revoke.status == 0 && revoke.out.contains("ended 1 session"), "\(revoke.out) \(revoke.err)")
        #expect(SCMDeployKeyTests.eventually { s.fake.liveMintedTokens == 0 })
        // With no live App key, a repo-token session is refused at open.
        let refused = d.cli(["session", "open", "web", "--build", "b2", "--grant", "repo-token"])
        #expect(refused.status != 0 && refused.err.contains("no_github_app"), "\(refused.err)")
        d.stop()
        await s.fake.stop()
    }

    @Test func theDaemonsStopRevokesItsSessionsTokensAndAReloadThatTakesTheGrantAwayEndsTheirSessions() async throws {
        let s = try await Self.setUp(.gitlab)
        defer { s.remove() }
        let d = s.daemon
        _ = try Self.fetch(d, try Self.open(d).token)
        #expect(s.fake.liveMintedTokens == 1)
        // A reload whose rule no longer grants repo-token ends the session; its token leaves the server.
        try Self.policy.replacingOccurrences(of: "grants: [deploy-key, token, repo-token]", with: "grants: [deploy-key, token]")
            .write(toFile: d.policies + "/policy.yaml", atomically: true, encoding: .utf8)
        kill(d.pid, SIGHUP)
        #expect(SCMDeployKeyTests.eventually { s.fake.liveMintedTokens == 0 }, "the reload did not revoke the token")
        try Self.policy.write(toFile: d.policies + "/policy.yaml", atomically: true, encoding: .utf8)
        kill(d.pid, SIGHUP)
        #expect(SCMDeployKeyTests.eventually { d.cli(["session", "open", "web", "--build", "b2", "--grant", "repo-token"]).status == 0 })
        // A graceful stop revokes before the process leaves.
        let again = try Self.open(d)
        _ = try Self.fetch(d, again.token)
        #expect(s.fake.liveMintedTokens == 1)
        d.stop()
        #expect(s.fake.liveMintedTokens == 0, "the stop left a minted token live on the server")
        await s.fake.stop()
    }

    @Test func theAppKeyIsNeverInTheStoreLogAuditOrAnswersInClear() async throws {
        let s = try await Self.setUp(.githubEnterprise)
        defer { s.remove() }
        let d = s.daemon
        let pem = try String(contentsOfFile: try #require(s.appKey) + "/app.pem", encoding: .utf8)
        // A line of the key's base64 body is enough to find it anywhere.
        let line = try #require(pem.split(separator: "\n").dropFirst(3).first.map(String.init))
        let listed = d.cli(["connection", "app", "list", "scm1", "--json"])
        #expect(listed.status == 0 && listed.out.contains("SHA256:") && !listed.out.contains(line))
        // `token put` and `token revoke` take tokens only: an App key (unchecked) or a minted
        // token's kind is refused there.
        for kind in ["github-app", "minted-token", "ssh-ca"] {
            let put = d.cli(["token", "put", "scm1", "--kind", kind, "--username", "x"], stdin: pem)
            #expect(put.status != 0 && put.err.contains("token kind must be token or oauth-client"), "\(kind): \(put.err)")
            #expect(d.cli(["token", "revoke", "scm1", "--kind", kind]).status != 0)
        }
        // A key that is not RSA is refused with what it is, and nothing is stored.
        let ec = d.root + "/ec.pem"
        #expect(sh(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", ec]).status == 0)
        let refused = d.cli(["connection", "app", "put", "scm1", "--app-id", "4242"], stdin: try String(contentsOfFile: ec, encoding: .utf8))
        #expect(refused.status != 0 && refused.err.contains("not an RSA key"), "\(refused.err)")
        #expect(try JSONSerialization.jsonObject(with: Data(d.cli(["connection", "app", "list", "scm1", "--json"]).out.utf8)) as? [Any] != nil)
        let versions = try #require(try JSONSerialization.jsonObject(with: Data(d.cli(["connection", "app", "list", "scm1", "--json"]).out.utf8)) as? [[String: Any]])
        #expect(versions.count == 1)
        _ = try Self.fetch(d, try Self.open(d).token)
        let audit = d.cli(["audit", "export"]).out
        d.stop()
        for file in ["latchkey.db", "latchkey.db-wal"] {
            guard let bytes = try? Data(contentsOf: URL(fileURLWithPath: d.dataDir + "/" + file)) else { continue }
            #expect(bytes.range(of: Data(line.utf8)) == nil, "the App key is in \(file) in clear")
        }
        #expect(!audit.contains(line) && !d.log.contains(line) && !refused.err.contains(line))
        await s.fake.stop()
    }

    @Test func aStoreWritersEditOfAMintedTokensRecordIsRefusedAndHoldsUpNoOtherRevocation() async throws {
        let s = try await Self.setUp(.gitlab)
        defer { s.remove() }
        let d = s.daemon
        let edited = try Self.open(d)
        _ = try Self.fetch(d, edited.token)
        let other = try Self.open(d)
        _ = try Self.fetch(d, other.token)
        d.kill9()
        // Point the first token's revocation at another token id (the writer has no master key).
        let db = d.dataDir + "/latchkey.db"
        let sql = "UPDATE secret_version SET attributes = replace(attributes, '\"server_token_id\":\"', '\"server_token_id\":\"9') WHERE kind = 'minted-token' AND owner LIKE 'minted:\(edited.id):%'"
        #expect(sh(["sqlite3", db, sql]).status == 0)
        try d.start()
        // The other session's token is revoked; the edited record is refused, not acted on.
        #expect(SCMDeployKeyTests.eventually { s.fake.projectTokens.first { $0.name == "latchkey-\(other.id)" }?.revoked == true })
        #expect(SCMDeployKeyTests.eventually { d.cli(["audit", "list", "--action", "repo-token.revoke", "--json"]).out.contains("binding_failed") })
        #expect(s.fake.projectTokens.first { $0.name == "latchkey-\(edited.id)" }?.revoked == false)
        #expect(s.fake.requests.filter { $0.method == "DELETE" && $0.path.contains("/access_tokens/9") }.isEmpty, "the edited id was acted on")
        d.stop()
        await s.fake.stop()
    }

    @Test func aRotatedAppKeyMintsWithTheNewVersionOnlyAndARetiringOneIsNeverUsed() async throws {
        let s = try await Self.setUp(.githubEnterprise)
        defer { s.remove() }
        let d = s.daemon
        let dir = try #require(s.appKey)
        #expect(sh(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", dir + "/app2.pem"]).status == 0)
        #expect(sh(["openssl", "pkey", "-in", dir + "/app2.pem", "-pubout", "-out", dir + "/app2.pub.pem"]).status == 0)
        let put = d.cli(["connection", "app", "put", "scm1", "--app-id", "4242", "--installation-id", "77", "--grace", "1h"], stdin: try String(contentsOfFile: dir + "/app2.pem", encoding: .utf8))
        #expect(put.status == 0 && put.out.contains("key v2"), "\(put.err)")
        let versions = try #require(try JSONSerialization.jsonObject(with: Data(d.cli(["connection", "app", "list", "scm1", "--json"]).out.utf8)) as? [[String: Any]])
        #expect(versions.map { $0["state"] as? String } == ["retiring", "active"])
        #expect(versions.last?["installationId"] as? String == "77")
        // The server knows only the new key now: a mint signed with v1 would be refused.
        s.fake.setGitHubAppKey(id: 4242, publicKeyPath: dir + "/app2.pub.pem")
        let t = try Self.fetch(d, try Self.open(d).token)
        #expect(t["token"] as? String != nil, "\(t)")
        #expect(s.fake.refusedJWTs.isEmpty, "a JWT of the retiring key was sent")
        // The pinned installation is used as it is: no lookup.
        #expect(!s.fake.requests.contains { $0.path.hasSuffix("/installation") })
        d.stop()
        await s.fake.stop()
    }

    @Test func concurrentFirstRedeemsShareOneMint() async throws {
        let s = try await Self.setUp(.bitbucketServer)
        defer { s.remove() }
        let d = s.daemon
        let session = try Self.open(d)
        let tokens = Mutex<[String]>([])
        let socket = d.socket
        DispatchQueue.concurrentPerform(iterations: 6) { _ in
            let r = sh([latchkeyBinary, "fetch", "repo-token", "--json", "--socket", socket], env: ["LATCHKEY_SESSION": session.token])
            let t = (try? JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])?["token"] as? String
            tokens.withLock { $0.append(t ?? "") }
        }
        let got = tokens.withLock { $0 }
        #expect(Set(got).count == 1 && !(got.first ?? "").isEmpty, "\(got.count) redeems, \(Set(got).count) distinct tokens")
        #expect(s.fake.repositoryTokens.count == 1)
        d.stop()
        await s.fake.stop()
    }

    @Test func revokingTheConnectionsTokenEndsTheSessionsWhoseTokensItMintedAndTheirRevocationWaitsForTheNextToken() async throws {
        let s = try await Self.setUp(.gitlab)
        defer { s.remove() }
        let d = s.daemon
        _ = try Self.fetch(d, try Self.open(d).token)
        let revoke = d.cli(["token", "revoke", "scm1"])
        #expect(revoke.status == 0, "\(revoke.err)")
        #expect(try JSONSerialization.jsonObject(with: Data(d.cli(["session", "list", "--json"]).out.utf8)) as? [Any] != nil)
        #expect(SCMDeployKeyTests.eventually { (try? Self.minted(d))?.first?["lastError"] as? String != nil }, "no failed attempt was recorded")
        #expect(s.fake.liveMintedTokens == 1)
        let pending = d.cli(["token", "list", "--minted"]).out
        #expect(pending.contains("revocation pending") && pending.contains("no active token"), "\(pending)")
        // The next token put lets the queue finish.
        #expect(d.cli(["token", "put", "scm1", "--username", "ci-bot"], stdin: s.token + "\n").status == 0)
        #expect(SCMDeployKeyTests.eventually(30) { s.fake.liveMintedTokens == 0 })
        d.stop()
        await s.fake.stop()
    }

    @Test func aMintTheServerRefusesAnswers502AndTakesNoUse() async throws {
        let s = try await Self.setUp(.bitbucketServer)
        defer { s.remove() }
        let d = s.daemon
        let session = try Self.open(d, ["--uses", "1"])
        s.fake.failNext(.forbiddenScope, method: "PUT", pathContains: "access-tokens")
        let failed = d.cli(["fetch", "repo-token"], env: ["LATCHKEY_SESSION": session.token])
        #expect(failed.status != 0 && failed.err.contains("scm_") && failed.err.contains("not permitted"), "\(failed.err)")
        // The one use is still there.
        let ok = try Self.fetch(d, session.token)
        #expect(ok["token"] as? String != nil)
        let audit = d.cli(["audit", "list", "--action", "repo-token.mint", "--json"]).out
        #expect(audit.contains("\"failed\"") && audit.contains("\"granted\""))
        d.stop()
        await s.fake.stop()
    }
}
