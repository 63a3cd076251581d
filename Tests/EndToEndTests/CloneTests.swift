import Foundation
import Testing

/// A real build: sshd + git + the latchkey binary. A test that cannot start sshd fails.
@Suite(.serialized) struct CloneTests {
    struct Setup {
        let daemon: DaemonProcess
        let sshd: SSHServer
        let work: String
    }

    /// Admin: connection, project, key of `type`; the server trusts its public key.
    func setUp(type: String = "ed25519") throws -> Setup {
        let d = try DaemonProcess()
        let sshd = try SSHServer()
        #expect(d.cli(["connection", "add", "local", "--kind", "gitlab", "--url", "https://git.example.com", "--ssh-url", "ssh://127.0.0.1:\(sshd.port)"]).status == 0)
        #expect(d.cli(["project", "add", "web", "--connection", "local", "--repo", "acme/web"]).status == 0)
        let key = d.cli(["deploy-key", "create", "web", "--type", type, "--json"])
        #expect(key.status == 0, "\(key.err)")
        let info = try JSONSerialization.jsonObject(with: Data(key.out.utf8)) as! [String: Any]
        try sshd.authorize(info["publicKey"] as! String)
        return Setup(daemon: d, sshd: sshd, work: makeTempDirectory("work"))
    }

    func openSession(_ d: DaemonProcess, grants: [String] = ["deploy-key"], ttl: String = "10m", uses: Int = 10) throws -> (id: String, token: String) {
        let r = d.cli(["session", "open", "web", "--build", "b1", "--ttl", ttl, "--uses", String(uses), "--json"] + grants.flatMap { ["--grant", $0] })
        guard r.status == 0 else { throw FixtureError("session open failed: \(r.err)") }
        let s = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
        return (s["id"] as! String, s["token"] as! String)
    }

    func clone(_ s: Setup, key: String, into dest: String) -> ToolResult {
        sh(["git", "clone", "-q", s.sshd.url, dest], env: ["GIT_SSH_COMMAND": "ssh -i \(key) -o IdentitiesOnly=yes -o IdentityAgent=none \(s.sshd.sshOptions)"])
    }

    @Test func cloneAndPushWithTheReleasedKeyFile() throws {
        let s = try setUp()
        let session = try openSession(s.daemon)
        let keyPath = s.work + "/id_deploy"
        let fetch = s.daemon.cli(["fetch", "deploy-key", "--out", keyPath], env: ["LATCHKEY_SESSION": session.token])
        #expect(fetch.status == 0, "\(fetch.err)")
        var st = stat()
        stat(keyPath, &st)
        #expect(st.st_mode & 0o777 == 0o600)
        // The released key is one ssh-keygen reads back to the same public key.
        #expect(sh(["ssh-keygen", "-y", "-f", keyPath]).status == 0)
        let dest = s.work + "/clone"
        let c = clone(s, key: keyPath, into: dest)
        #expect(c.status == 0, "\(c.err)")
        #expect((try? String(contentsOfFile: dest + "/README", encoding: .utf8)) == "hello from latchkey\n")
        // Push with the same key.
        let gitEnv = ["GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
                      "GIT_SSH_COMMAND": "ssh -i \(keyPath) -o IdentitiesOnly=yes -o IdentityAgent=none \(s.sshd.sshOptions)"]
        try "built\n".write(toFile: dest + "/BUILD", atomically: true, encoding: .utf8)
        sh(["git", "add", "BUILD"], cwd: dest)
        sh(["git", "commit", "-q", "-m", "build"], env: gitEnv, cwd: dest)
        let push = sh(["git", "push", "-q", "origin", "main"], env: gitEnv, cwd: dest)
        #expect(push.status == 0, "\(push.err)")
        // A refusal to an existing file: created exclusively.
        #expect(s.daemon.cli(["fetch", "deploy-key", "--out", keyPath], env: ["LATCHKEY_SESSION": session.token]).status != 0)
        // After close, the session redeems nothing.
        #expect(s.daemon.cli(["session", "close", session.id]).status == 0)
        let after = s.daemon.cli(["fetch", "deploy-key", "--out", s.work + "/again"], env: ["LATCHKEY_SESSION": session.token])
        #expect(after.status == 77 && after.err.contains("invalid_session"))
    }

    @Test(arguments: ["ed25519", "ecdsa-p256", "rsa-3072"])
    func everyKeyTypeClonesThroughExec(type: String) throws {
        let s = try setUp(type: type)
        let session = try openSession(s.daemon)
        let dest = s.work + "/clone"
        let r = s.daemon.cli(
            ["exec", "--strict-host-key-checking", "no", "--known-hosts", "/dev/null", "--", "git", "clone", "-q", s.sshd.url, dest],
            env: ["LATCHKEY_SESSION": session.token])
        #expect(r.status == 0, "\(r.err)")
        #expect(FileManager.default.fileExists(atPath: dest + "/README"))
    }

    @Test func revokedKeyAndEndedGraceAreRefused() throws {
        let s = try setUp()
        let old = try openSession(s.daemon)
        // Rotate with a one-second grace: the old session's pinned v1 is refused after it.
        #expect(s.daemon.cli(["deploy-key", "rotate", "web", "--grace", "1s"]).status == 0)
        sleep(2)
        // Refused as revoked — or, once housekeeping has ended the sessions holding v1, as
        // no longer valid.
        let late = s.daemon.cli(["fetch", "deploy-key"], env: ["LATCHKEY_SESSION": old.token])
        #expect(late.status == 77 && (late.err.contains("secret_revoked") || late.err.contains("invalid_session")), "\(late.err)")
        // A new session gets v2; revoking v2 ends it at once.
        let fresh = try openSession(s.daemon)
        #expect(s.daemon.cli(["fetch", "deploy-key"], env: ["LATCHKEY_SESSION": fresh.token]).status == 0)
        #expect(s.daemon.cli(["deploy-key", "revoke", "web"]).status == 0)
        let denied = s.daemon.cli(["fetch", "deploy-key"], env: ["LATCHKEY_SESSION": fresh.token])
        #expect(denied.status == 77 && denied.err.contains("invalid_session"))
        let dest = s.work + "/clone"
        let r = s.daemon.cli(["exec", "--", "git", "clone", "-q", s.sshd.url, dest], env: ["LATCHKEY_SESSION": fresh.token])
        #expect(r.status != 0 && !FileManager.default.fileExists(atPath: dest))
    }

    @Test func execMasksTheTokenAndCleansUpWhenKilled() throws {
        let s = try setUp()
        let secret = "glpat-" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(20)
        let put = s.daemon.cli(["token", "put", "local", "--no-verify", "--username", "ci-bot"], stdin: secret + "\n")
        #expect(put.status == 0, "\(put.err)")
        let session = try openSession(s.daemon, grants: ["deploy-key", "token"])
        let script = #"echo "plain $GIT_TOKEN"; printf '%s' "$GIT_TOKEN" | base64; printf 'x=%s\n' "$GIT_TOKEN" >&2; cat "$LATCHKEY_DEPLOY_KEY""#
        let r = s.daemon.cli(["exec", "--token-env", "GIT_TOKEN", "--", "sh", "-c", script], env: ["LATCHKEY_SESSION": session.token])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("plain [MASKED]") && r.err.contains("x=[MASKED]"))
        #expect(!r.out.contains(secret) && !r.err.contains(secret))
        #expect(!r.out.contains("OPENSSH PRIVATE KEY-----\nb3Bl"))
        // Exit status passes through; a killed command leaves no key file.
        let listBefore = (try? FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory()))?.filter { $0.hasPrefix("latchkey-exec-") } ?? []
        let killed = s.daemon.cli(["exec", "--", "sh", "-c", "kill -9 $$"], env: ["LATCHKEY_SESSION": session.token])
        #expect(killed.status == 137)
        let exit3 = s.daemon.cli(["exec", "--", "sh", "-c", "exit 3"], env: ["LATCHKEY_SESSION": session.token])
        #expect(exit3.status == 3)
        let listAfter = (try? FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory()))?.filter { $0.hasPrefix("latchkey-exec-") } ?? []
        #expect(Set(listAfter) == Set(listBefore))
        // Nothing in the store, its WAL or the daemon's log holds the token.
        #expect(!s.daemon.log.contains(secret))
        let grep = sh(["grep", "-r", "-l", "-F", secret, s.daemon.dataDir])
        #expect(grep.status == 1)
    }

    @Test func execWithoutSshFollowsWhatTheSessionWasGranted() throws {
        let s = try setUp()
        #expect(s.daemon.cli(["token", "put", "local", "--no-verify", "--username", "ci-bot"], stdin: "glpat-exec-default-0123456789\n").status == 0)
        let probe = #"echo "ssh=${GIT_SSH_COMMAND:-unset} key=${LATCHKEY_DEPLOY_KEY:-unset} token=${#GIT_TOKEN}""#
        // A token-only session: no deploy key is asked for, no SSH is set up, the token is.
        let tokenOnly = try openSession(s.daemon, grants: ["token"], uses: 2)
        let r = s.daemon.cli(["exec", "--token-env", "GIT_TOKEN", "--", "sh", "-c", probe], env: ["LATCHKEY_SESSION": tokenOnly.token])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("ssh=unset key=unset token=29"), "\(r.out)")
        // Choosing took no use and asked for nothing the session lacks: the token's use is
        // the only one taken, and no denied row was written.
        let list = s.daemon.cli(["session", "list", "--json"])
        #expect(list.out.contains("\"usesLeft\" : 1"), "\(list.out)")
        let denied = s.daemon.cli(["audit", "list", "--outcome", "denied", "--json"])
        #expect(!denied.out.contains("grant_missing"), "\(denied.out)")
        #expect(s.daemon.cli(["audit", "list", "--action", "session.show", "--json"]).out.contains("session.show"))
        // A session with the deploy-key grant gets the key file without --ssh key.
        let both = try openSession(s.daemon, grants: ["deploy-key", "token"])
        let k = s.daemon.cli(["exec", "--token-env", "GIT_TOKEN", "--", "sh", "-c", probe], env: ["LATCHKEY_SESSION": both.token])
        #expect(k.status == 0 && k.out.contains("ssh=ssh -i ") && !k.out.contains("key=unset"), "\(k.out) \(k.err)")
        // Asked for explicitly, a missing grant is still an error.
        let explicit = s.daemon.cli(["exec", "--ssh", "key", "--", "true"], env: ["LATCHKEY_SESSION": tokenOnly.token])
        #expect(explicit.status != 0 && explicit.err.contains("grant_missing"), "\(explicit.err)")
    }

    @Test func aBuildUserThePolicyDoesNotNameIsRefused() throws {
        let s = try setUp()
        chmod(s.daemon.socket, 0o666)
        chmod(s.daemon.root, 0o755)
        let session = try openSession(s.daemon)
        let nobody: UInt32 = 65534
        let r = s.daemon.cli(["fetch", "deploy-key"], env: ["LATCHKEY_SESSION": session.token], asUID: nobody)
        #expect(r.status == 77 && r.err.contains("peer_not_allowed"), "\(r.err)")
    }
}
