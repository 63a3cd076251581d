import Foundation
import LatchkeyTestSupport
import SCMFakes
import Testing

/// The store writer without the master key against what Latchkey does on the SCM servers:
/// they edit the stopped daemon's SQLite file with the `sqlite3` tool to point a connection
/// at their own CA, switch deploy-key installing on or off, or plant a removal of a key id
/// of their choosing. Each test performs the attack on a real daemon (and a faked server
/// over real TLS) and shows the daemon refuses — `binding_failed`, an audit row and a log
/// line naming the row — and sends the server nothing it would act on.
@Suite(.serialized) struct SCMStoreWriterTests {
    static func sqlite(_ d: DaemonProcess, _ sql: String) {
        let r = sh(["sqlite3", d.dataDir + "/latchkey.db", sql])
        #expect(r.status == 0, "the attacker's edit ran: \(r.err)")
    }

    @Test func aConnectionPointedAtTheAttackersCAIsRefused() async throws {
        let s = try await SCMEndToEndTests.setUp(.githubEnterprise)
        defer { s.pki.remove() }
        let d = s.daemon
        d.stop()
        // The attacker's own CA (a file they could write), put in place of the connection's.
        let attacker = try TestPKI.make()
        defer { attacker.remove() }
        Self.sqlite(d, "UPDATE connection SET ca_file = '\(attacker.caCertificate)' WHERE name = 'scm1'")
        try d.start()
        let sent = s.fake.requests.count
        let verify = d.cli(["connection", "verify", "scm1"])
        #expect(verify.status != 0 && verify.err.contains("binding_failed"), "\(verify.err)")
        let put = d.cli(["token", "put", "scm1", "--username", "ci-bot"], stdin: s.token + "\n")
        #expect(put.status != 0 && put.err.contains("binding_failed"), "\(put.err)")
        #expect(s.fake.requests.count == sent, "no request was sent trusting the attacker's CA")
        #expect(d.log.contains("connection 'scm1' (its CA file)"), "the log names the row: \(d.log)")
        let audit = d.cli(["audit", "list", "--action", "connection.verify", "--json"])
        #expect(audit.out.contains("binding_failed"), "\(audit.out)")
        d.stop()
        await s.fake.stop()
    }

    @Test func deployKeyInstallSwitchedByTheWriterIsRefused() async throws {
        let s = try await SCMEndToEndTests.setUp(.gitlab)
        defer { s.pki.remove() }
        let d = s.daemon
        let repo = SCMEndToEndTests.repository(.gitlab)
        #expect(d.cli(["project", "set", "web", "--install-deploy-key"]).status == 0)
        #expect(d.cli(["deploy-key", "create", "web"]).status == 0)
        #expect(s.fake.deployKeys(repo).first?.write == false)
        d.stop()
        // Installed keys made writable (the next rotation would install a key that can push).
        Self.sqlite(d, "UPDATE project SET deploy_key_write = 1 WHERE name = 'web'")
        try d.start()
        let rotate = d.cli(["deploy-key", "rotate", "web"])
        #expect(rotate.status != 0 && rotate.err.contains("binding_failed"), "\(rotate.err)")
        #expect(s.fake.deployKeys(repo).count == 1 && s.fake.deployKeys(repo).allSatisfy { !$0.write }, "nothing installed")
        #expect(d.log.contains("project 'web' (its deploy-key install settings)"), "\(d.log)")
        d.stop()
        // Installing switched off (so a revoked key would stay on the server): refused too.
        Self.sqlite(d, "UPDATE project SET deploy_key_write = 0, install_deploy_key = 0 WHERE name = 'web'")
        try d.start()
        let revoke = d.cli(["deploy-key", "revoke", "web"])
        #expect(revoke.status != 0 && revoke.err.contains("binding_failed"), "\(revoke.err)")
        d.stop()
        await s.fake.stop()
    }

    @Test func aRemovalOfAKeyIdTheWriterChoseIsNeverSent() async throws {
        setenv("LATCHKEY_SCM_REMOVAL_BACKOFF", "1", 1)
        let s = try await SCMEndToEndTests.setUp(.githubEnterprise)
        defer { s.pki.remove() }
        let d = s.daemon
        let repo = SCMEndToEndTests.repository(.githubEnterprise)
        #expect(d.cli(["project", "set", "web", "--install-deploy-key"]).status == 0)
        #expect(d.cli(["deploy-key", "create", "web"]).status == 0)
        // Someone else's key on the same repository: the one the attacker wants gone.
        s.fake.addDeployKey(repo, title: "release-bot", key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBo9n1b2n3m4v5c6x7z8l9k0j1h2g3f4d5s6a7q8w9e0 release-bot")
        let victim = try #require(s.fake.deployKeys(repo).first { $0.title == "release-bot" })
        d.stop()
        // The installed row retargeted at the victim's id and queued; a forged row beside it.
        Self.sqlite(d, """
            UPDATE scm_deploy_key SET server_key_id = '\(victim.id)', state = 'removing', next_attempt_at = NULL WHERE project = 'web';
            INSERT INTO scm_deploy_key(project, version, repo, connection, state, server_key_id, updated_at)
                VALUES ('web', 9, '\(repo)', 'scm1', 'removing', '\(victim.id)', '2026-12-01T00:00:00.000000Z');
            """)
        try d.start()
        // Housekeeping runs every 5 s; give it several passes.
        sleep(12)
        #expect(s.fake.deployKeys(repo).contains { $0.id == victim.id }, "the victim's key is still on the server")
        #expect(!s.fake.requests.contains { $0.method == "DELETE" }, "no DELETE was sent: \(s.fake.requests.map(\.uri))")
        #expect(d.log.contains("scm_deploy_key of project 'web' v1") && d.log.contains("scm_deploy_key of project 'web' v9"), "\(d.log)")
        let audit = d.cli(["audit", "list", "--action", "deploy-key.uninstall", "--json", "--limit", "1000"])
        #expect(audit.out.contains("binding_failed"), "\(audit.out)")
        // deploy-key list refuses to show the edited rows as truth.
        let list = d.cli(["deploy-key", "list", "web"])
        #expect(list.status != 0 && list.err.contains("binding_failed"), "\(list.err)")
        d.stop()
        await s.fake.stop()
    }

    @Test func aDeletedInstallRecordDoesNotMakeTheDaemonRemoveTheActiveKey() async throws {
        let s = try await SCMEndToEndTests.setUp(.bitbucketServer)
        defer { s.pki.remove() }
        let d = s.daemon
        let repo = SCMEndToEndTests.repository(.bitbucketServer)
        #expect(d.cli(["project", "set", "web", "--install-deploy-key"]).status == 0)
        #expect(d.cli(["deploy-key", "create", "web"]).status == 0)
        #expect(s.fake.deployKeys(repo).map(\.title) == ["latchkey:web:v1"])
        d.stop()
        // A row's absence has no MAC to fail: the writer deletes the active key's record, so
        // that the reconciliation at start would take the key for a crash's orphan.
        Self.sqlite(d, "DELETE FROM scm_deploy_key")
        try d.start()
        sleep(7)
        #expect(s.fake.deployKeys(repo).map(\.title) == ["latchkey:web:v1"], "the active key stays on the server")
        #expect(!s.fake.requests.contains { $0.method == "DELETE" })
        #expect(d.log.contains("has no install record in the store; left in place"), "\(d.log)")
        d.stop()
        await s.fake.stop()
    }

    @Test func aTokenVerificationMadeToLookOkIsRefused() async throws {
        let s = try await SCMEndToEndTests.setUp(.gitlab)
        defer { s.pki.remove() }
        let d = s.daemon
        d.stop()
        Self.sqlite(d, "UPDATE token_verification SET state = 'ok', missing = '[]', user = 'admin'")
        let edited = sh(["sqlite3", d.dataDir + "/latchkey.db", "SELECT count(*) FROM token_verification"])
        #expect(edited.out.hasPrefix("1"), "put recorded its check: \(edited.out)")
        try d.start()
        let list = d.cli(["token", "list"])
        #expect(list.status != 0 && list.err.contains("binding_failed"), "\(list.err)")
        #expect(d.log.contains("token_verification of connection:scm1 v1"), "\(d.log)")
        d.stop()
        await s.fake.stop()
    }
}
