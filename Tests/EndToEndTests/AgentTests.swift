import Foundation
import Testing

@Suite(.serialized) struct AgentTests {
    @Test(arguments: ["ed25519", "rsa-3072", "ecdsa-p256"])
    func cloneThroughTheSessionAgentUntilTheSessionEnds(type: String) throws {
        let d = try DaemonProcess()
        let sshd = try SSHServer()
        #expect(d.cli(["connection", "add", "local", "--kind", "gitlab", "--url", "https://git.example.com"]).status == 0)
        #expect(d.cli(["project", "add", "web", "--connection", "local", "--repo", "acme/web"]).status == 0)
        let key = d.cli(["deploy-key", "create", "web", "--type", type, "--json"])
        let info = try #require(try JSONSerialization.jsonObject(with: Data(key.out.utf8)) as? [String: Any])
        try sshd.authorize(info["publicKey"] as! String)
        let open = d.cli(["session", "open", "web", "--build", "a1", "--uses", "1", "--json"])
        let session = try #require(try JSONSerialization.jsonObject(with: Data(open.out.utf8)) as? [String: Any])
        let token = session["token"] as! String
        let agent = d.cli(["agent", "--json"], env: ["LATCHKEY_SESSION": token])
        #expect(agent.status == 0, "\(agent.err)")
        let socket = try #require((try JSONSerialization.jsonObject(with: Data(agent.out.utf8)) as? [String: Any])?["socketPath"] as? String)
        // ssh-add lists exactly the session's key; adding or removing keys is refused.
        let listed = sh(["ssh-add", "-l"], env: ["SSH_AUTH_SOCK": socket])
        #expect(listed.status == 0 && listed.out.contains(info["fingerprint"] as! String), "\(listed.out) \(listed.err)")
        #expect(sh(["ssh-add", "-D"], env: ["SSH_AUTH_SOCK": socket]).status != 0)
        // git clones through it (more than once: the agent takes no use), and each signature is audited.
        let work = makeTempDirectory("agent")
        for i in 1...2 {
            let c = sh(["git", "clone", "-q", sshd.url, work + "/clone\(i)"],
                env: ["SSH_AUTH_SOCK": socket, "GIT_SSH_COMMAND": "ssh -o IdentityAgent=\(socket) \(sshd.sshOptions)"])
            #expect(c.status == 0, "\(c.err)")
        }
        let signs = d.cli(["audit", "list", "--action", "agent.sign", "--json"])
        #expect(signs.out.components(separatedBy: "\"agent.sign\"").count - 1 >= 2)
        // Another uid cannot use the agent.
        #expect(sh(["ssh-add", "-l"], env: ["SSH_AUTH_SOCK": socket], asUID: 65534).status != 0)
        // exec --ssh agent works the same way.
        let viaExec = d.cli(["exec", "--ssh", "agent", "--strict-host-key-checking", "no", "--known-hosts", "/dev/null", "--", "git", "clone", "-q", sshd.url, work + "/clone3"],
            env: ["LATCHKEY_SESSION": token])
        #expect(viaExec.status == 0, "\(viaExec.err)")
        // When the session ends, the agent and its socket are gone and clones fail.
        #expect(d.cli(["session", "close", session["id"] as! String]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: socket))
        let after = sh(["git", "clone", "-q", sshd.url, work + "/late"],
            env: ["SSH_AUTH_SOCK": socket, "GIT_SSH_COMMAND": "ssh -o IdentityAgent=\(socket) \(sshd.sshOptions)"])
        #expect(after.status != 0)
        d.stop()
    }
}
