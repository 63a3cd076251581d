import Foundation
import LatchkeyTestSupport
import Testing

/// `latchkey exec` against the build's own hostile command (#16 findings 8 and 14).
/// The build runs as uid 4003; the runner is root, as a CI runner handing builds to
/// another user often is.
let execBuildUID: UInt32 = 4003

let execPolicy = """
    version: 1
    admins: { uids: [0] }
    auditors: { uids: [0] }
    runners:
      - name: ci
        who: { uids: [0] }
        projects: ["*"]
        grants: [deploy-key, token]
        max_ttl: 1h
        max_uses: 100
        builds: { uids: [4003] }
    """

@Suite(.serialized) struct HostileBuildExecTests {
    func daemon() throws -> DaemonProcess {
        let d = try DaemonProcess(policy: execPolicy)
        chmod(d.socket, 0o666)  // the policy, not the file mode, decides here
        #expect(d.cli(["connection", "add", "local", "--kind", "gitlab", "--url", "https://git.example.com"]).status == 0)
        #expect(d.cli(["project", "add", "web", "--connection", "local", "--repo", "acme/web"]).status == 0)
        #expect(d.cli(["deploy-key", "create", "web"]).status == 0)
        return d
    }

    /// A private directory the build user owns (where the runner puts its token file).
    func buildDirectory(_ tag: String) -> String {
        let dir = makeTempDirectory(tag)
        chown(dir, execBuildUID, execBuildUID)
        chmod(dir, 0o700)
        return dir
    }

    @Test func theRecipeLeavesTheTokenInNoEnvironmentAndTheAgentOnlyGrantReleasesNoKey() throws {
        let d = try daemon()
        let dir = buildDirectory("exec-token")
        let tokenFile = dir + "/session"
        // The runner: the token goes to a file for the build, never to a variable.
        let open = d.cli(["session", "open", "web", "--build", "7", "--grant", "deploy-key-agent", "--token-file", tokenFile, "--json"])
        #expect(open.status == 0, "\(open.err)")
        #expect(!open.out.contains("lks_"), "the token is not printed when it goes to a file")
        chown(tokenFile, execBuildUID, execBuildUID)
        let token = (try? String(contentsOfFile: tokenFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        #expect(token.hasPrefix("lks_"))
        // The build shell runs exec; the command is hostile: it reads the environment of
        // every process it can (its parents' included), looks for the file, and tries the
        // raw key with whatever it found.
        let hostile = """
            for f in /proc/[0-9]*/environ; do cat "$f" 2>/dev/null | tr '\\0' '\\n'; done > \(dir)/environs
            cat /proc/$PPID/environ > \(dir)/parent 2>&1 || echo unreadable > \(dir)/parent
            ls \(tokenFile) > \(dir)/file 2>&1 || true
            ssh-add -l > \(dir)/agent 2>&1
            """
        let build = "\(latchkeyBinary) exec --socket \(d.socket) --session-file \(tokenFile) --ssh agent -- sh -c '\(hostile.replacingOccurrences(of: "'", with: "'\\''"))'"
        let r = sh(["/bin/sh", "-c", build], env: ["HOME": dir], asUID: execBuildUID)
        #expect(r.status == 0, "\(r.err)")
        let environs = (try? String(contentsOfFile: dir + "/environs", encoding: .utf8)) ?? ""
        #expect(environs.contains("SSH_AUTH_SOCK"), "the command did read environments")
        #expect(!environs.contains(token) && !environs.contains("LATCHKEY_SESSION"), "a process's environment holds the token")
        #expect(!((try? String(contentsOfFile: dir + "/parent", encoding: .utf8)) ?? "").contains(token))
        #expect(!FileManager.default.fileExists(atPath: tokenFile), "exec removed the session file")
        #expect(((try? String(contentsOfFile: dir + "/agent", encoding: .utf8)) ?? "").contains("ED25519"), "the agent works")
        // Had it found the token anyway, the agent-only grant releases no key.
        let raw = d.cli(["fetch", "deploy-key"], env: ["LATCHKEY_SESSION": token], asUID: execBuildUID)
        #expect(raw.status != 0 && !raw.out.contains("PRIVATE KEY"))
        #expect(raw.err.contains("grant_missing") || raw.err.contains("not granted"), "\(raw.err)")
        d.stop()
    }

    @Test func theKeyHandedToSshOutlivesNoExecEvenKilledWithSIGKILL() throws {
        let d = try daemon()
        let runtime = buildDirectory("exec-runtime")
        let open = d.cli(["session", "open", "web", "--build", "8", "--grant", "deploy-key", "--json"])
        let token = (json(open.out)["token"] as? String) ?? ""
        // While the command runs, every reader of the pipe gets the whole key (CloneTests
        // clones through it with ssh; here two reads as the build user, 0600 and a pipe).
        let check = d.cli(["exec", "--ssh", "key", "--", "sh", "-c", "wc -c < \"$LATCHKEY_DEPLOY_KEY\"; wc -c < \"$LATCHKEY_DEPLOY_KEY\"; stat -c %a:%F \"$LATCHKEY_DEPLOY_KEY\""],
            env: ["LATCHKEY_SESSION": token, "XDG_RUNTIME_DIR": runtime], asUID: execBuildUID)
        let lines = check.out.split(separator: "\n")
        #expect(check.status == 0 && lines.count == 3 && lines[0] == lines[1] && (Int(lines[0]) ?? 0) > 300, "\(check.out) \(check.err)")
        #expect(lines.last == "600:fifo", "\(check.out)")
        // Now exec is killed with SIGKILL while its command runs.
        let marker = runtime + "/started"
        let log = runtime + "/exec.log"
        var env = ProcessInfo.processInfo.environment
        env["LATCHKEY_SESSION"] = token
        env["XDG_RUNTIME_DIR"] = runtime
        guard let pid = spawn(
                ["setpriv", "--reuid=\(execBuildUID)", "--regid=\(execBuildUID)", "--clear-groups", latchkeyBinary, "exec", "--socket", d.socket,
                 "--ssh", "key", "--", "sh", "-c", "echo $$ > \(marker); exec sleep 30"],
                environment: env, stdoutPath: log, stderrPath: log)
        else { throw FixtureError("cannot start exec") }
        for _ in 0..<400 where !FileManager.default.fileExists(atPath: marker) { usleep(25_000) }
        #expect(FileManager.default.fileExists(atPath: marker))
        kill(pid, SIGKILL)
        _ = waitFor(pid)
        // The orphaned command (its pid, written before it became `sleep`).
        if let text = try? String(contentsOfFile: marker, encoding: .utf8), let child = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            kill(child, SIGKILL)
        }
        // What is left in the runtime directory holds no key: no regular file but our own.
        let key = d.cli(["project", "show", "web", "--json"]).out
        #expect(key.contains("ssh-ed25519"))
        var leftovers: [String] = []
        let e = FileManager.default.enumerator(atPath: runtime)
        while let rel = e?.nextObject() as? String {
            var st = stat()
            lstat(runtime + "/" + rel, &st)
            if st.st_mode & S_IFMT == S_IFREG, !["started", "exec.log"].contains(rel) { leftovers.append(rel) }
        }
        #expect(leftovers.isEmpty, "files left after SIGKILL: \(leftovers)")
        #expect(filesContainingPrivateKey(under: runtime).isEmpty)
        d.stop()
    }
}

/// Files under `dir` holding an OpenSSH private key.
func filesContainingPrivateKey(under dir: String) -> [String] {
    var hits: [String] = []
    let e = FileManager.default.enumerator(atPath: dir)
    while let rel = e?.nextObject() as? String {
        var st = stat()
        guard lstat(dir + "/" + rel, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { continue }
        if let data = FileManager.default.contents(atPath: dir + "/" + rel), data.range(of: Data("PRIVATE KEY".utf8)) != nil { hits.append(rel) }
    }
    return hits
}

func json(_ text: String) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
}
