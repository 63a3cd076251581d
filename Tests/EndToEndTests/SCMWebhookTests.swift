import Foundation
import SCMFakes
import LatchkeyTestSupport
import Testing

/// Webhooks Latchkey installs on each (faked) server, whose secret it keeps, and the CI's
/// receiver asking the real daemon to verify deliveries over its Unix socket.
@Suite(.serialized) struct SCMWebhookTests {
    /// The receiver runs as nobody; root (the daemon's user, an admin) is not a receiver.
    static let receiverUID: UInt32 = 65534

    static let policy = """
        version: 1
        admins: { users: [$daemon] }
        auditors: { users: [$daemon] }
        runners:
          - name: local
            who: { users: [$daemon] }
            projects: ["*"]
            grants: [deploy-key, token]
            max_ttl: 1h
            max_uses: 100
            builds: { users: [$daemon] }
        webhook_receivers:
          - name: ci-hooks
            who: { uids: [\(receiverUID)] }
            projects: [web]
        """

    static let hookURL = "https://ci.example.test/hooks/web"

    struct Setup {
        let pki: TestPKI
        let fake: FakeSCMServer
        let daemon: DaemonProcess
        let token: String
        let repo: String
    }

    static func setUp(_ kind: FakeKind) async throws -> Setup {
        let pki = try TestPKI.make()
        let fake = try await FakeSCMServer.start(kind: kind, certificate: try pki.serverCertificate())
        let token = SCMEndToEndTests.token(kind)
        let repo = SCMEndToEndTests.repository(kind)
        let scopes: [String]? =
            switch kind {
            case .githubEnterprise: ["admin:repo_hook"]
            case .gitlab: ["api"]
            case .bitbucketServer: nil
            }
        fake.addUser("ci-bot", token: token, scopes: scopes)
        fake.addRepository(repo, admins: ["ci-bot"])
        let d = try DaemonProcess(policy: policy)
        // The receiver is another user: the test opens the socket to it (the daemon makes it 0660).
        chmod(d.socket, 0o666)
        let add = d.cli(["connection", "add", "scm1", "--kind", kind.rawValue, "--url", fake.webURL, "--api-url", fake.apiURL, "--ca-file", pki.caCertificate])
        #expect(add.status == 0, "\(add.err)")
        #expect(d.cli(["token", "put", "scm1", "--username", "ci-bot"], stdin: token + "\n").status == 0)
        #expect(d.cli(["project", "add", "web", "--connection", "scm1", "--repo", repo]).status == 0)
        return Setup(pki: pki, fake: fake, daemon: d, token: token, repo: repo)
    }

    static func json(_ r: ToolResult) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any], "\(r.status) \(r.err)")
    }

    /// The version a successful `webhook verify --json` names.
    static func version(_ r: ToolResult) -> Int? {
        ((try? JSONSerialization.jsonObject(with: Data(r.out.utf8))) as? [String: Any])?["version"] as? Int
    }

    static func hookCount(_ d: DaemonProcess) -> Int? {
        ((try? JSONSerialization.jsonObject(with: Data(d.cli(["webhook", "list", "--json"]).out.utf8))) as? [Any])?.count
    }

    static func valid(_ r: ToolResult) -> Bool {
        ((try? JSONSerialization.jsonObject(with: Data(r.out.utf8))) as? [String: Any])?["valid"] as? Bool == true
    }

    /// `latchkey webhook verify web --header …` as the receiver, the body on stdin.
    static func verify(_ d: DaemonProcess, body: String, header: (name: String, value: String)?, asUID: UInt32? = receiverUID) -> ToolResult {
        var args = ["webhook", "verify", "web", "--json"]
        if let header { args += ["--header", "\(header.name): \(header.value)"] }
        return d.cli(args, stdin: body, asUID: asUID)
    }

    static let delivery = #"{"ref":"refs/heads/main","before":"6113728f27ae82c7b1a177c8d03f9e96e0adf246","after":"59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5","repository":{"full_name":"acme/web"}}"#

    static func flipped(_ s: String) -> String {
        var b = Array(s.utf8)
        b[b.count / 2] ^= 0x01
        return String(decoding: b, as: UTF8.self)
    }

    @Test(arguments: FakeKind.allCases)
    func installVerifyRotateAndRemoveOnEachServer(kind: FakeKind) async throws {
        let s = try await Self.setUp(kind)
        defer { s.pki.remove() }
        let d = s.daemon

        // install: the hook is created on the repository with a fresh 32-byte secret.
        let installed = d.cli(["webhook", "install", "web", "--url", Self.hookURL, "--events", "push", "pull_request", "--json"])
        #expect(installed.status == 0, "\(installed.err)")
        let info = try Self.json(installed)
        let hooks = s.fake.webhooks(s.repo)
        let hook = try #require(hooks.first)
        #expect(hooks.count == 1)
        #expect(hook.url == Self.hookURL)
        #expect(info["serverHookId"] as? String == String(hook.id))
        #expect(info["state"] as? String == "installed" && info["activeVersion"] as? Int == 1)
        let secretV1 = hook.secret
        #expect(secretV1.utf8.count == 64 && secretV1.utf8.allSatisfy { "0123456789abcdef".utf8.contains($0) }, "a 32-byte secret as hex")
        switch kind {
        case .githubEnterprise:
            #expect(hook.contentType == "json" && hook.events == ["push", "pull_request"])
        case .gitlab:
            #expect(hook.events == ["push", "merge_requests"])
        case .bitbucketServer:
            #expect(hook.name == "latchkey" && hook.events == ["repo:refs_changed", "pr:opened", "pr:from_ref_updated"])
        }
        #expect(d.cli(["webhook", "list"]).out.contains(Self.hookURL))
        // connection verify now checks what webhooks need (scope / role / REPO_ADMIN), and finds it.
        let verified = d.cli(["connection", "verify", "scm1", "--json"])
        let missing = try Self.json(verified)["missing"] as? [String]
        #expect(verified.status == 0 && missing == [], "\(verified.out) \(verified.err)")
        #expect(s.fake.requests.contains { $0.method == "GET" && (kind == .bitbucketServer ? $0.path.hasSuffix("/permissions/users") : $0.path.hasSuffix(kind == .gitlab ? "acme%2Fplatform%2Fweb" : "/repos/acme/web")) },
            "the repository's permission was asked about")
        // A second install for the project is refused, and so is one for a URL the repository has.
        let again = d.cli(["webhook", "install", "web", "--url", "https://ci.example.test/other"])
        #expect(again.status != 0 && again.err.contains("webhook_exists"), "\(again.err)")
        #expect(s.fake.webhooks(s.repo).count == 1)

        // A delivery the server signed verifies; with one byte flipped it does not.
        let signed = try #require(s.fake.signedDelivery(repository: s.repo, body: Array(Self.delivery.utf8)))
        let good: ToolResult
        if kind != .gitlab {
            good = Self.verify(d, body: Self.delivery, header: signed)
        } else {
            // GitLab's header is the secret itself: the receiver passes it in a file, not argv.
            let file = d.root + "/headers"
            try "\(signed.name): \(signed.value)\n".write(toFile: file, atomically: true, encoding: .utf8)
            chown(file, Self.receiverUID, Self.receiverUID)
            chmod(file, 0o600)
            good = d.cli(["webhook", "verify", "web", "--json", "--header-file", file], stdin: Self.delivery, asUID: Self.receiverUID)
        }
        #expect(good.status == 0, "\(good.err)")
        #expect(Self.valid(good) && Self.version(good) == 1)
        if kind != .gitlab {  // GitLab sends the secret itself, which does not depend on the body.
            let forged = Self.verify(d, body: Self.flipped(Self.delivery), header: signed)
            #expect(forged.status == 77 && forged.err.contains("bad_signature"), "\(forged.err)")
        }
        let wrong = Self.verify(d, body: Self.delivery, header: (signed.name, Self.flipped(signed.value)))
        #expect(wrong.status == 77 && wrong.err.contains("bad_signature"), "\(wrong.err)")
        let unsigned = Self.verify(d, body: Self.delivery, header: nil)
        #expect(unsigned.status == 77 && unsigned.err.contains(signed.name.lowercased()), "\(unsigned.err)")
        // Root is an admin, not a receiver: refused, and audited.
        let notReceiver = Self.verify(d, body: Self.delivery, header: signed, asUID: nil)
        #expect(notReceiver.status == 77 && notReceiver.err.contains("not_webhook_receiver"), "\(notReceiver.err)")

        // rotate: v2 is set on the hook; deliveries signed with v1 verify during the grace only.
        let rotated = d.cli(["webhook", "rotate", "web", "--grace", "3s", "--json"])
        #expect(rotated.status == 0, "\(rotated.err)")
        #expect(try Self.json(rotated)["activeVersion"] as? Int == 2)
        let secretV2 = try #require(s.fake.webhooks(s.repo).first).secret
        #expect(secretV2 != secretV1 && secretV2.utf8.count == 64)
        #expect(s.fake.webhooks(s.repo).first?.id == hook.id, "the same hook, updated")
        let signedV2 = try #require(s.fake.signedDelivery(repository: s.repo, body: Array(Self.delivery.utf8)))
        let newOne = Self.verify(d, body: Self.delivery, header: signedV2)
        #expect(newOne.status == 0 && Self.version(newOne) == 2, "\(newOne.err)")
        let oldInGrace = Self.verify(d, body: Self.delivery, header: signed)
        #expect(oldInGrace.status == 0 && Self.version(oldInGrace) == 1, "\(oldInGrace.err)")
        sleep(4)
        let oldAfterGrace = Self.verify(d, body: Self.delivery, header: signed)
        #expect(oldAfterGrace.status == 77 && oldAfterGrace.err.contains("bad_signature"), "\(oldAfterGrace.err)")
        #expect(Self.verify(d, body: Self.delivery, header: signedV2).status == 0)

        // remove: the hook leaves the server, its secret is destroyed, deliveries are refused.
        let removed = d.cli(["webhook", "remove", "web"])
        #expect(removed.status == 0, "\(removed.err)")
        #expect(s.fake.webhooks(s.repo).isEmpty)
        #expect(Self.hookCount(d) == 0)
        let afterRemove = Self.verify(d, body: Self.delivery, header: signedV2)
        #expect(afterRemove.status != 0 && afterRemove.err.contains("no_webhook"), "\(afterRemove.err)")

        // Every verification has its row: granted ones with the version, refused ones denied.
        let audit = d.cli(["audit", "list", "--action", "webhook.verify", "--json", "--limit", "100"])
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(audit.out.utf8)) as? [[String: Any]], "\(audit.err)")
        #expect(rows.count == (kind == .gitlab ? 9 : 10), "\(rows.count)")
        #expect(rows.contains { ($0["outcome"] as? String) == "denied" && ($0["reason"] as? String) == "not_webhook_receiver" })
        #expect(rows.filter { ($0["reason"] as? String) == "bad_signature" }.count == (kind == .gitlab ? 3 : 4))
        for action in ["webhook.install", "webhook.rotate", "webhook.remove"] {
            #expect(d.cli(["audit", "list", "--action", action, "--json"]).out.contains("\"granted\""), "\(action)")
        }

        // The secrets are nowhere but in the documented field of the create / update calls.
        Self.expectSecretsOnlyInTheirField([secretV1, secretV2], kind: kind, fake: s.fake)
        let export = d.cli(["audit", "export"]).out
        for secret in [secretV1, secretV2] {
            #expect(!d.log.contains(secret) && !export.contains(secret))
            for out in [installed, rotated, good, Self.forged(kind, d), wrong, notReceiver, oldAfterGrace] {
                #expect(!out.out.contains(secret) && !out.err.contains(secret))
            }
            #expect(sh(["grep", "-r", "-l", "-F", secret, d.dataDir]).status == 1, "the secret is sealed at rest")
        }
        d.stop()
        await s.fake.stop()
    }

    /// A refused verification's output for the secret-leak check (GitLab's header *is* the
    /// secret, so its forged delivery is a wrong token).
    static func forged(_ kind: FakeKind, _ d: DaemonProcess) -> ToolResult {
        verify(d, body: delivery, header: (WebhookHeader.name(kind), "sha256=" + String(repeating: "0", count: 64)))
    }

    /// Each request the fake recorded: the secret only in `config.secret` (GitHub), `token`
    /// (GitLab) or `configuration.secret` (Bitbucket) of a create or update call.
    static func expectSecretsOnlyInTheirField(_ secrets: [String], kind: FakeKind, fake: FakeSCMServer) {
        for r in fake.requests {
            var body = (try? JSONSerialization.jsonObject(with: Data(r.body))) as? [String: Any]
            let isHookWrite = ["POST", "PATCH", "PUT"].contains(r.method) && r.path.contains(kind == .bitbucketServer ? "/webhooks" : "/hooks")
            if isHookWrite {
                switch kind {
                case .githubEnterprise:
                    var config = body?["config"] as? [String: Any]
                    #expect(secrets.contains(config?["secret"] as? String ?? ""), "\(r.method) \(r.path) carries the secret in config.secret")
                    config?["secret"] = nil
                    body?["config"] = config
                case .gitlab:
                    #expect(secrets.contains(body?["token"] as? String ?? ""), "\(r.method) \(r.path) carries the secret in token")
                    body?["token"] = nil
                case .bitbucketServer:
                    var config = body?["configuration"] as? [String: Any]
                    #expect(secrets.contains(config?["secret"] as? String ?? ""), "\(r.method) \(r.path) carries it in configuration.secret")
                    config?["secret"] = nil
                    body?["configuration"] = config
                }
            }
            let rest = r.uri + r.headers.map { $0.name + $0.value }.joined()
                + (body.flatMap { try? JSONSerialization.data(withJSONObject: $0) }.map { String(decoding: $0, as: UTF8.self) } ?? String(decoding: r.body, as: UTF8.self))
            for secret in secrets { #expect(!rest.contains(secret), "\(r.method) \(r.path) carries a webhook secret elsewhere") }
        }
    }

    @Test func aRefusedInstallOrRotationChangesNothing() async throws {
        let s = try await Self.setUp(.githubEnterprise)
        defer { s.pki.remove() }
        let d = s.daemon
        // The server refuses the create: nothing recorded, no secret kept.
        s.fake.failNext(.forbiddenScope, method: "POST", pathContains: "/hooks")
        let refused = d.cli(["webhook", "install", "web", "--url", Self.hookURL])
        #expect(refused.status != 0 && refused.err.contains("scm_forbidden") && refused.err.contains("admin:repo_hook"), "\(refused.err)")
        #expect(s.fake.webhooks(s.repo).isEmpty)
        #expect(Self.hookCount(d) == 0)
        let badURL = d.cli(["webhook", "install", "web", "--url", "ftp://ci.example.test/x"])
        #expect(badURL.status != 0 && badURL.err.contains("field 'url'"), "\(badURL.err)")
        let badEvent = d.cli(["webhook", "install", "web", "--url", Self.hookURL, "--events", "deploy"])
        #expect(badEvent.status != 0 && badEvent.err.contains("events[0]"), "\(badEvent.err)")

        #expect(d.cli(["webhook", "install", "web", "--url", Self.hookURL]).status == 0)
        let signed = try #require(s.fake.signedDelivery(repository: s.repo, body: Array(Self.delivery.utf8)))
        // Hostile headers: the signature twice (even with a genuine one among them), or not in the server's form.
        let twice = d.cli(
            ["webhook", "verify", "web", "--header", "\(signed.name): \(signed.value)", "--header", "\(signed.name): sha256=" + String(repeating: "0", count: 64)],
            stdin: Self.delivery, asUID: Self.receiverUID)
        #expect(twice.status == 77 && twice.err.contains("appears 2 times"), "\(twice.err)")
        for bad in ["sha1=" + String(repeating: "0", count: 40), "sha256=zz", "sha256=" + String(repeating: "0", count: 62), ""] {
            let r = Self.verify(d, body: Self.delivery, header: (signed.name, bad))
            #expect(r.status == 77 && r.err.contains("bad_signature"), "\(bad): \(r.err)")
        }
        // The server refuses the update: v2 (v1 was the refused install's) stays the active
        // secret, and v3 is gone.
        s.fake.failNext(.status(422), method: "PATCH")
        let rotation = d.cli(["webhook", "rotate", "web"])
        #expect(rotation.status != 0 && rotation.err.contains("422"), "\(rotation.err)")
        let shown = try Self.json(d.cli(["webhook", "show", "web", "--json"]))
        #expect(shown["activeVersion"] as? Int == 2 && shown["state"] as? String == "installed", "\(shown)")
        let versions = shown["versions"] as? [[String: Any]] ?? []
        #expect(versions.map { $0["state"] as? String } == ["revoked", "active", "revoked"], "\(versions)")
        let still = Self.verify(d, body: Self.delivery, header: signed)
        #expect(still.status == 0 && Self.version(still) == 2, "\(still.err)")
        // A project with a hook cannot be removed until the hook is.
        let remove = d.cli(["project", "remove", "web"])
        #expect(remove.status != 0 && remove.err.contains("webhook remove web"), "\(remove.err)")
        // A removal the server fails stays pending, and the next one finishes it.
        s.fake.failNext(.serverError, method: "DELETE")  // 500 is not retried (only 502–504)
        let failed = d.cli(["webhook", "remove", "web"])
        #expect(failed.status != 0 && failed.err.contains("stays pending"), "\(failed.err)")
        #expect(d.cli(["webhook", "list"]).out.contains("removal pending"))
        #expect(s.fake.webhooks(s.repo).count == 1)
        let finished = d.cli(["webhook", "remove", "web"])
        #expect(finished.status == 0, "\(finished.err) \(d.log.suffix(2000))")
        #expect(s.fake.webhooks(s.repo).isEmpty)
        #expect(d.cli(["project", "remove", "web"]).status == 0)
        d.stop()
        await s.fake.stop()
    }

    @Test(arguments: [FakeKind.gitlab, FakeKind.bitbucketServer])
    func aDaemonKilledDuringInstallOrRotationIsReconciledAtRestart(kind: FakeKind) async throws {
        let s = try await Self.setUp(kind)
        defer { s.pki.remove() }
        let d = s.daemon
        let hooksPath = kind == .gitlab ? "/hooks" : "/webhooks"
        // The server creates the hook but answers slowly; the daemon dies waiting.
        s.fake.failNext(.slow(milliseconds: 4000), method: "POST", pathContains: hooksPath)
        let out = d.root + "/install.out"
        guard let pid = spawn(
                [latchkeyBinary, "webhook", "install", "web", "--url", Self.hookURL, "--socket", d.socket], environment: ProcessInfo.processInfo.environment,
                stdoutPath: out, stderrPath: out)
        else { throw FixtureError("cannot run the CLI") }
        #expect(SCMDeployKeyTests.eventually(10) { s.fake.webhooks(s.repo).count == 1 })
        d.kill9()
        _ = waitFor(pid)
        try d.start()
        chmod(d.socket, 0o666)
        // Adopted: recorded with the server's id, and the server's deliveries verify.
        #expect(SCMDeployKeyTests.eventually {
            (try? Self.json(d.cli(["webhook", "show", "web", "--json"])))?["state"] as? String == "installed"
        })
        let shown = try Self.json(d.cli(["webhook", "show", "web", "--json"]))
        #expect(shown["serverHookId"] as? String == s.fake.webhooks(s.repo).first.map { String($0.id) })
        #expect(s.fake.webhooks(s.repo).count == 1, "no second hook")
        let signed = try #require(s.fake.signedDelivery(repository: s.repo, body: Array(Self.delivery.utf8)))
        #expect(Self.verify(d, body: Self.delivery, header: signed).status == 0)
        #expect(d.cli(["audit", "list", "--action", "webhook.install", "--json"]).out.contains("reconciled"))

        // The same for a rotation: the update reached the server, its answer did not.
        s.fake.failNext(.slow(milliseconds: 4000), method: "PUT", pathContains: hooksPath)
        let secretV1 = try #require(s.fake.webhooks(s.repo).first).secret
        guard let rotating = spawn(
                [latchkeyBinary, "webhook", "rotate", "web", "--socket", d.socket], environment: ProcessInfo.processInfo.environment,
                stdoutPath: out, stderrPath: out)
        else { throw FixtureError("cannot run the CLI") }
        #expect(SCMDeployKeyTests.eventually(10) { s.fake.webhooks(s.repo).first?.secret != secretV1 })
        d.kill9()
        _ = waitFor(rotating)
        try d.start()
        chmod(d.socket, 0o666)
        #expect(SCMDeployKeyTests.eventually {
            (try? Self.json(d.cli(["webhook", "show", "web", "--json"])))?["state"] as? String == "installed"
        })
        let signedV2 = try #require(s.fake.signedDelivery(repository: s.repo, body: Array(Self.delivery.utf8)))
        let v2 = Self.verify(d, body: Self.delivery, header: signedV2)
        #expect(v2.status == 0 && Self.version(v2) == 2, "\(v2.err)")
        #expect(d.cli(["audit", "list", "--action", "webhook.rotate", "--json"]).out.contains("reconciled"))
        d.stop()
        await s.fake.stop()
    }

    @Test func aRotationTheServerDidNotAnswerIsFinishedByHousekeeping() async throws {
        setenv("LATCHKEY_SCM_REMOVAL_BACKOFF", "1", 1)
        let s = try await Self.setUp(.githubEnterprise)
        defer { s.pki.remove() }
        let d = s.daemon
        #expect(d.cli(["webhook", "install", "web", "--url", Self.hookURL]).status == 0)
        let signedV1 = try #require(s.fake.signedDelivery(repository: s.repo, body: Array(Self.delivery.utf8)))
        // 503 to the update (a PATCH is not repeated by the client): the outcome is unknown.
        s.fake.failNext(.status(503), method: "PATCH")
        let rotation = d.cli(["webhook", "rotate", "web", "--grace", "1h"])
        #expect(rotation.status != 0 && rotation.err.contains("may hold the new secret"), "\(rotation.err)")
        #expect(try Self.json(d.cli(["webhook", "show", "web", "--json"]))["state"] as? String == "updating")
        // Meanwhile both secrets verify.
        #expect(Self.version(Self.verify(d, body: Self.delivery, header: signedV1)) == 1)
        // Housekeeping sets it again once the server answers, without anyone asking.
        #expect(SCMDeployKeyTests.eventually {
            (try? Self.json(d.cli(["webhook", "show", "web", "--json"])))?["state"] as? String == "installed"
        })
        let signedV2 = try #require(s.fake.signedDelivery(repository: s.repo, body: Array(Self.delivery.utf8)))
        #expect(signedV2.value != signedV1.value)
        #expect(Self.version(Self.verify(d, body: Self.delivery, header: signedV2)) == 2)
        #expect(Self.version(Self.verify(d, body: Self.delivery, header: signedV1)) == 1, "v1 keeps its grace")
        #expect(d.cli(["audit", "list", "--action", "webhook.rotate", "--json"]).out.contains("reconciled"))
        d.stop()
        await s.fake.stop()
    }

    @Test func aStoreWriterCannotPointARotationOrRemovalAtAnotherHook() async throws {
        let s = try await Self.setUp(.githubEnterprise)
        defer { s.pki.remove() }
        let d = s.daemon
        s.fake.addRepository("acme/api", admins: ["ci-bot"])
        #expect(d.cli(["project", "add", "api", "--connection", "scm1", "--repo", "acme/api"]).status == 0)
        #expect(d.cli(["webhook", "install", "web", "--url", Self.hookURL]).status == 0)
        #expect(d.cli(["webhook", "install", "api", "--url", "https://ci.example.test/hooks/api"]).status == 0)
        let apiHook = try #require(s.fake.webhooks("acme/api").first)
        d.stop()
        // The attacker edits web's row to name api's hook and repository.
        let edit = sh([
            "sqlite3", d.dataDir + "/latchkey.db",
            "UPDATE scm_webhook SET server_hook_id = '\(apiHook.id)', repo = 'acme/api' WHERE project = 'web'",
        ])
        #expect(edit.status == 0, "\(edit.err)")
        try d.start()
        let before = s.fake.requests.count
        for args in [["webhook", "remove", "web"], ["webhook", "rotate", "web"], ["webhook", "show", "web"]] {
            let r = d.cli(args)
            #expect(r.status != 0 && r.err.contains("binding_failed"), "\(args): \(r.err)")
        }
        #expect(s.fake.requests.count == before, "nothing was sent to the server")
        #expect(s.fake.webhooks("acme/api") == [apiHook], "api's hook is untouched")
        #expect(s.fake.webhooks(s.repo).count == 1)
        #expect(d.log.contains("scm_webhook of project 'web'"), "the log names the row")
        d.stop()
        await s.fake.stop()
    }

    @Test func aDeliveryUpToOneMebibyteVerifiesAndALargerOneIsRefused() async throws {
        let s = try await Self.setUp(.githubEnterprise)
        defer { s.pki.remove() }
        let d = s.daemon
        #expect(d.cli(["webhook", "install", "web", "--url", Self.hookURL]).status == 0)
        // Larger than every other route takes (64 KiB), within the delivery limit: the
        // receiver's documented curl command.
        let big = "{\"commits\":\"" + String(repeating: "a", count: 900 * 1024) + "\"}"
        let file = d.root + "/delivery.json"
        try big.write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o644)
        let signed = try #require(s.fake.signedDelivery(repository: s.repo, body: Array(big.utf8)))
        let curl = sh(
            ["curl", "-sS", "--unix-socket", d.socket, "-H", "\(signed.name): \(signed.value)", "--data-binary", "@" + file,
             "http://latchkey/v1/projects/web/webhook/verify"], asUID: Self.receiverUID)
        #expect(curl.status == 0 && curl.out.contains("\"valid\":true") && curl.out.contains("\"version\":1"), "\(curl.out) \(curl.err)")
        // Over 1 MiB: 413 before a byte of the body is read; the other routes keep their limit,
        // and so does this one for a peer that is not a receiver (root here, the admin).
        for (path, length) in [
            ("/v1/projects/web/webhook/verify", (1 << 20) + 1), ("/v1/projects/web/webhook/rotate", 100 * 1024),
            ("/v1/projects/web/webhook/verify", 100 * 1024),
        ] {
            let c = try #require(RawConnection(path: d.socket))
            c.send("POST \(path) HTTP/1.1\r\nHost: latchkey\r\nContent-Length: \(length)\r\n\r\n")
            let answer = c.readResponse()
            #expect(answer?.status == 413 && answer?.body.contains("body_too_large") == true, "\(path): \(String(describing: answer))")
        }
        let huge = String(repeating: "a", count: (1 << 20) + 1)
        // The CLI refuses an oversized delivery before sending it.
        let cli = Self.verify(d, body: huge, header: signed)
        #expect(cli.status != 0 && cli.err.contains("over 1048576 bytes"), "\(cli.err)")
        d.stop()
        await s.fake.stop()
    }
}

/// The signature header each server sends.
enum WebhookHeader {
    static func name(_ kind: FakeKind) -> String {
        switch kind {
        case .githubEnterprise: "X-Hub-Signature-256"
        case .gitlab: "X-Gitlab-Token"
        case .bitbucketServer: "X-Hub-Signature"
        }
    }
}
