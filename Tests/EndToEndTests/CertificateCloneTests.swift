import Foundation
import Testing

/// SSH user certificates proven by OpenSSH: a real sshd on loopback trusts one
/// connection's CA (`TrustedUserCAKeys`) and lists the principals it accepts for the login
/// user (`AuthorizedPrincipalsFile`); builds clone with the certificate their session got,
/// through the session's agent or from `fetch ssh-cert` files, and are refused once the
/// session has expired, with another connection's CA, or with a principal it does not list.
@Suite(.serialized) struct CertificateCloneTests {
    static let policy = """
        version: 1
        admins: { users: [$daemon] }
        auditors: { users: [$daemon] }
        runners:
          - name: local
            who: { users: [$daemon] }
            projects: ["*"]
            grants: [deploy-key, token, ssh-cert]
            max_ttl: 1h
            max_uses: 1000
            builds: { users: [$daemon] }
        """
    static let principal = "lk-build"

    struct Setup {
        let daemon: DaemonProcess
        let sshd: SSHServer
        let work: String
        let caLine: String
    }

    /// A daemon with connection `local` (CA of `type`, principal `lk-build`) and project
    /// `web`; an sshd that trusts that CA and accepts `lk-build` for root.
    func setUp(type: String = "ed25519", principal: String = Self.principal) throws -> Setup {
        let d = try DaemonProcess(policy: Self.policy)
        let work = makeTempDirectory("cert")
        #expect(d.cli(["connection", "add", "local", "--kind", "gitlab", "--url", "https://git.example.com"]).status == 0)
        let ca = d.cli(["connection", "ca", "create", "local", "--type", type])
        #expect(ca.status == 0, "\(ca.err)")
        let caLine = ca.out.trimmingCharacters(in: .whitespacesAndNewlines)
        let shown = d.cli(["connection", "ca", "show", "local"])
        #expect(shown.out == ca.out, "ca show prints the same line as create")
        try (caLine + "\n").write(toFile: work + "/trusted_ca", atomically: true, encoding: .utf8)
        try "\(Self.principal)\n".write(toFile: work + "/principals", atomically: true, encoding: .utf8)
        let sshd = try SSHServer(extraConfig: "TrustedUserCAKeys \(work)/trusted_ca\nAuthorizedPrincipalsFile \(work)/principals\n")
        let set = d.cli(["connection", "set", "local", "--cert-principal", principal])
        #expect(set.status == 0, "\(set.err)")
        #expect(d.cli(["project", "add", "web", "--connection", "local", "--repo", "acme/web"]).status == 0)
        return Setup(daemon: d, sshd: sshd, work: work, caLine: caLine)
    }

    func openSession(_ d: DaemonProcess, project: String = "web", ttl: String = "10m") throws -> (id: String, token: String) {
        let r = d.cli(["session", "open", project, "--build", "b1", "--ttl", ttl, "--uses", "10", "--grant", "ssh-cert", "--json"])
        guard r.status == 0 else { throw FixtureError("session open failed: \(r.err)") }
        let s = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
        return (s["id"] as! String, s["token"] as! String)
    }

    func fetchFiles(_ s: Setup, token: String, into dir: String) -> ToolResult {
        mkdir(dir, 0o700)
        return s.daemon.cli(["fetch", "ssh-cert", "--out", dir], env: ["LATCHKEY_SESSION": token])
    }

    func cloneWithFiles(_ s: Setup, dir: String, into dest: String) -> ToolResult {
        sh(["git", "clone", "-q", s.sshd.url, dest], env: [
            "GIT_SSH_COMMAND": "ssh -i \(dir)/id_ed25519 -o IdentitiesOnly=yes -o IdentityAgent=none \(s.sshd.sshOptions)"
        ])
    }

    /// `fetch ssh-cert` writes a 0600 key and certificate; ssh-keygen reads the
    /// certificate's key id, serial, principals and validity; git clones with them.
    @Test(arguments: ["ed25519", "ecdsa-p256", "rsa-3072"])
    func fetchedCertificateClonesAndSshKeygenShowsItsFields(type: String) throws {
        let s = try setUp(type: type)
        let session = try openSession(s.daemon)
        let dir = s.work + "/files"
        let fetch = fetchFiles(s, token: session.token, into: dir)
        #expect(fetch.status == 0, "\(fetch.err)")
        for file in ["id_ed25519", "id_ed25519-cert.pub"] {
            var st = stat()
            #expect(stat(dir + "/" + file, &st) == 0 && st.st_mode & 0o777 == 0o600, "\(file)")
        }
        let listed = sh(["ssh-keygen", "-L", "-f", dir + "/id_ed25519-cert.pub"], env: ["TZ": "UTC"])
        #expect(listed.status == 0, "\(listed.err)")
        #expect(listed.out.contains("Key ID: \"latchkey:web:\(session.id):b1\""), "\(listed.out)")
        #expect(listed.out.contains("Serial: 1\n"))
        #expect(listed.out.contains("Principals: \n                \(Self.principal)\n"))
        #expect(listed.out.contains("Critical Options: (none)") && listed.out.contains("Extensions: (none)"), "no permit-pty unless set")
        let c = cloneWithFiles(s, dir: dir, into: s.work + "/clone")
        #expect(c.status == 0, "\(c.err)\n\(s.sshd.log)")
        #expect(FileManager.default.fileExists(atPath: s.work + "/clone/README"))
        // The session key is nowhere in the store, its WAL or the daemon's log.
        let pem = try String(contentsOfFile: dir + "/id_ed25519", encoding: .utf8).split(separator: "\n")
        let keyLine = String(pem[pem.count / 2])
        #expect(sh(["grep", "-r", "-l", "-F", keyLine, s.daemon.dataDir]).status == 1)
        #expect(!s.daemon.log.contains(keyLine))
        // sshd took the certificate (nothing is in its authorized_keys).
        #expect(s.sshd.log.contains("ED25519-CERT") && s.sshd.log.contains("ID latchkey:web:\(session.id):b1 (serial 1)"), "\(s.sshd.log)")
        // The issue is audited with its serial, key id, validity and principals.
        let audit = s.daemon.cli(["audit", "list", "--action", "ssh-cert.issue", "--json"])
        #expect(audit.out.contains("serial=1 key_id=latchkey:web:\(session.id):b1 valid="), "\(audit.out)")
        #expect(audit.out.contains("principals=\(Self.principal)"))
        // A second session gets the next serial.
        let second = try openSession(s.daemon)
        let dir2 = s.work + "/files2"
        #expect(fetchFiles(s, token: second.token, into: dir2).status == 0)
        #expect(sh(["ssh-keygen", "-L", "-f", dir2 + "/id_ed25519-cert.pub"]).out.contains("Serial: 2\n"))
    }

    /// The session's agent lists the certificate and signs with it: git clones through
    /// `exec --ssh agent` and through `exec --ssh cert`.
    @Test func cloneThroughTheSessionAgentAndExecWithTheCertificate() throws {
        let s = try setUp()
        let session = try openSession(s.daemon)
        let agent = s.daemon.cli(["agent", "--json"], env: ["LATCHKEY_SESSION": session.token])
        #expect(agent.status == 0, "\(agent.err)")
        let socket = try #require((try JSONSerialization.jsonObject(with: Data(agent.out.utf8)) as? [String: Any])?["socketPath"] as? String)
        let listed = sh(["ssh-add", "-L"], env: ["SSH_AUTH_SOCK": socket])
        #expect(listed.status == 0 && listed.out.contains("ssh-ed25519-cert-v01@openssh.com "), "\(listed.out) \(listed.err)")
        let c = sh(["git", "clone", "-q", s.sshd.url, s.work + "/via-agent"],
            env: ["SSH_AUTH_SOCK": socket, "GIT_SSH_COMMAND": "ssh -o IdentityAgent=\(socket) \(s.sshd.sshOptions)"])
        #expect(c.status == 0, "\(c.err)\n\(s.sshd.log)")
        // exec without --ssh on a session with ssh-cert and no deploy-key uses the certificate.
        for mode in ["agent", "cert", "default"] {
            let r = s.daemon.cli(
                ["exec"] + (mode == "default" ? [] : ["--ssh", mode]) + ["--strict-host-key-checking", "no", "--known-hosts", "/dev/null", "--", "git", "clone", "-q", s.sshd.url, s.work + "/exec-\(mode)"],
                env: ["LATCHKEY_SESSION": session.token])
            #expect(r.status == 0, "exec --ssh \(mode): \(r.err)")
            #expect(FileManager.default.fileExists(atPath: s.work + "/exec-\(mode)/README"))
        }
        let signs = s.daemon.cli(["audit", "list", "--action", "agent.sign", "--json"])
        #expect(signs.out.contains("\"agent.sign\""))
    }

    /// The certificate dies with the session: the same files sshd accepted are refused
    /// once the session's expiry has passed.
    @Test func sameCertificateIsRefusedAfterTheSessionExpired() throws {
        let s = try setUp()
        let session = try openSession(s.daemon, ttl: "4s")
        let dir = s.work + "/files"
        #expect(fetchFiles(s, token: session.token, into: dir).status == 0)
        #expect(cloneWithFiles(s, dir: dir, into: s.work + "/before").status == 0)
        sleep(6)
        let late = cloneWithFiles(s, dir: dir, into: s.work + "/after")
        #expect(late.status != 0)
        #expect(!FileManager.default.fileExists(atPath: s.work + "/after/README"))
        #expect(s.sshd.log.contains("Certificate invalid: expired"), "\(s.sshd.log)")
    }

    /// sshd trusts `local`'s CA only: a certificate from `other`'s CA is refused.
    @Test func certificateFromAnotherConnectionsCAIsRefused() throws {
        let s = try setUp()
        let d = s.daemon
        #expect(d.cli(["connection", "add", "other", "--kind", "gitlab", "--url", "https://other.example.com"]).status == 0)
        #expect(d.cli(["connection", "ca", "create", "other"]).status == 0)
        #expect(d.cli(["connection", "set", "other", "--cert-principal", Self.principal]).status == 0)
        #expect(d.cli(["project", "add", "api", "--connection", "other", "--repo", "acme/api"]).status == 0)
        let session = try openSession(d, project: "api")
        let dir = s.work + "/files"
        #expect(fetchFiles(s, token: session.token, into: dir).status == 0)
        let c = cloneWithFiles(s, dir: dir, into: s.work + "/clone")
        #expect(c.status != 0)
        #expect(!FileManager.default.fileExists(atPath: s.work + "/clone/README"))
        #expect(s.sshd.log.contains("Failed publickey for root") && !s.sshd.log.contains("Accepted publickey"), "\(s.sshd.log)")
    }

    /// A certificate whose principal sshd's AuthorizedPrincipalsFile does not list is refused.
    @Test func principalTheServerDoesNotListIsRefused() throws {
        let s = try setUp(principal: "someone-else")
        let session = try openSession(s.daemon)
        let dir = s.work + "/files"
        #expect(fetchFiles(s, token: session.token, into: dir).status == 0)
        let c = cloneWithFiles(s, dir: dir, into: s.work + "/clone")
        #expect(c.status != 0)
        #expect(!FileManager.default.fileExists(atPath: s.work + "/clone/README"))
        #expect(s.sshd.log.contains("does not contain an authorized principal"), "\(s.sshd.log)")
    }

    /// A session asking for ssh-cert is refused, with a reason, when the connection has no
    /// CA or no principals; the store holds no session key after any of it.
    @Test func sessionWithoutCAOrPrincipalsIsRefused() throws {
        let d = try DaemonProcess(policy: Self.policy)
        #expect(d.cli(["connection", "add", "local", "--kind", "gitlab", "--url", "https://git.example.com"]).status == 0)
        #expect(d.cli(["project", "add", "web", "--connection", "local", "--repo", "acme/web"]).status == 0)
        let noCA = d.cli(["session", "open", "web", "--build", "b1", "--grant", "ssh-cert"])
        #expect(noCA.status != 0 && noCA.err.contains("no_certificate_authority"), "\(noCA.err)")
        #expect(d.cli(["connection", "ca", "create", "local"]).status == 0)
        let noPrincipals = d.cli(["session", "open", "web", "--build", "b1", "--grant", "ssh-cert"])
        #expect(noPrincipals.status != 0 && noPrincipals.err.contains("no_certificate_principals"), "\(noPrincipals.err)")
    }

    /// The CLI as the README shows it: rotation keeps both lines in `ca show` for the grace
    /// (servers trust both meanwhile), revoke drops the old one, settings print back.
    @Test func caRotationShowsBothLinesForTheGraceAndRevokeDropsOne() throws {
        let d = try DaemonProcess(policy: Self.policy)
        #expect(d.cli(["connection", "add", "ghe", "--kind", "github-enterprise", "--url", "https://ghe.example.com"]).status == 0)
        let v1 = d.cli(["connection", "ca", "create", "ghe"])
        #expect(v1.status == 0 && v1.out.hasSuffix(" latchkey-ca:ghe:v1\n") && v1.err.contains("(ed25519, v1, active)"), "\(v1.out) \(v1.err)")
        let v2 = d.cli(["connection", "ca", "rotate", "ghe", "--type", "ecdsa-p256", "--grace", "1h"])
        #expect(v2.status == 0 && v2.out.hasPrefix("ecdsa-sha2-nistp256 "), "\(v2.err)")
        let both = d.cli(["connection", "ca", "show", "ghe"]).out.split(separator: "\n")
        #expect(both.count == 2 && both[0].hasSuffix("latchkey-ca:ghe:v1") && both[1].hasSuffix("latchkey-ca:ghe:v2"))
        #expect(d.cli(["connection", "ca", "revoke", "ghe", "--version", "1"]).status == 0)
        let one = d.cli(["connection", "ca", "show", "ghe"]).out.split(separator: "\n")
        #expect(one.count == 1 && one[0].hasSuffix("latchkey-ca:ghe:v2"))
        #expect(d.cli(["connection", "ca", "show", "ghe", "--all"]).out.contains("revoked"))
        let set = d.cli(["connection", "set", "ghe", "--cert-principal", "git", "--cert-extension", "login@ghe.example.com=ci-bot"])
        #expect(set.status == 0 && set.out.contains("principals git; extensions login@ghe.example.com=ci-bot"), "\(set.out) \(set.err)")
        let bad = d.cli(["connection", "set", "ghe", "--cert-principal", "a,b"])
        #expect(bad.status != 0 && bad.err.contains("commas"), "\(bad.err)")
        // GitLab's form: the key id is the username; extensions cleared.
        let gitlab = d.cli(["connection", "set", "ghe", "--cert-key-id-username", "ci-bot", "--clear-cert-extensions"])
        #expect(gitlab.status == 0 && gitlab.out.contains("extensions (none); key id ci-bot"), "\(gitlab.out) \(gitlab.err)")
        #expect(d.cli(["project", "add", "web", "--connection", "ghe", "--repo", "acme/web"]).status == 0)
        let session = try openSession(d)
        let dir = makeTempDirectory("cert-username")
        #expect(d.cli(["fetch", "ssh-cert", "--out", dir], env: ["LATCHKEY_SESSION": session.token]).status == 0)
        let listed = sh(["ssh-keygen", "-L", "-f", dir + "/id_ed25519-cert.pub"]).out
        #expect(listed.contains("Key ID: \"ci-bot\"") && listed.contains("Extensions: (none)"), "\(listed)")
        let shown = d.cli(["connection", "show", "ghe"]).out
        #expect(shown.contains("cert principals: git") && shown.contains("cert key id:     ci-bot") && shown.contains("last serial:     1"), "\(shown)")
        // A second fetch into the same place refuses to overwrite.
        #expect(d.cli(["fetch", "ssh-cert", "--out", dir], env: ["LATCHKEY_SESSION": session.token]).status != 0)
    }

    /// Serials only grow, also across a kill -9 of the daemon.
    @Test func serialsKeepGrowingAcrossACrash() throws {
        let s = try setUp()
        for _ in 1...2 { _ = try openSession(s.daemon) }
        s.daemon.kill9()
        try s.daemon.start()
        let session = try openSession(s.daemon)
        let dir = s.work + "/files"
        #expect(fetchFiles(s, token: session.token, into: dir).status == 0)
        #expect(sh(["ssh-keygen", "-L", "-f", dir + "/id_ed25519-cert.pub"]).out.contains("Serial: 3\n"))
    }
}
