import Foundation
import LatchkeyCrypto
import LatchkeyTestSupport
import Testing

/// Leaks: every secret a workout of the whole surface creates or handles (SCM tokens put
/// from stdin and sealed, an OAuth client secret, generated deploy keys, the master key,
/// session tokens) is searched for — raw, hex, base64 and base64url at every alignment —
/// in the store and its WAL, the daemon's log, the audit export, the output of every
/// command the test ran, and `/proc/<pid>/environ` and `cmdline` of every Latchkey
/// process; and the daemon is shown to be neither dumpable nor attachable.
@Suite(.serialized) struct LeakSweepTests {
    /// A secret and the forms it could leak in.
    struct Needle {
        let name: String
        let forms: [(String, [UInt8])]

        init(_ name: String, _ bytes: [UInt8]) {
            self.name = name
            var forms: [(String, [UInt8])] = [("raw", bytes), ("hex", Array(Hex.encode(bytes).utf8)), ("HEX", Array(Hex.encode(bytes).uppercased().utf8))]
            for shift in 0..<3 where bytes.count > shift + 12 {
                let b64 = Data(bytes.dropFirst(shift)).base64EncodedString()
                // The middle of the encoding is the same whatever precedes or follows.
                let middle = String(b64.dropFirst(shift == 0 ? 0 : 2).dropLast(4))
                forms.append(("base64+\(shift)", Array(middle.utf8)))
                forms.append(("base64url+\(shift)", Array(middle.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").utf8)))
            }
            self.forms = forms
        }

        /// The forms of this secret found in `haystack`.
        func found(in haystack: [UInt8]) -> [String] {
            forms.filter { haystack.firstRange(of: $0.1) != nil }.map(\.0)
        }
    }

    /// What the sweep searched and what it found.
    final class Sweep {
        var needles: [Needle] = []
        var places = 0
        var bytesSearched = 0
        var leaks: [String] = []

        func search(_ place: String, _ haystack: [UInt8], except allowed: Set<String> = []) {
            places += 1
            bytesSearched += haystack.count
            for n in needles where !allowed.contains(n.name) {
                let forms = n.found(in: haystack)
                if !forms.isEmpty { leaks.append("\(n.name) (\(forms.joined(separator: ", "))) in \(place)") }
            }
        }

        func searchFile(_ path: String, except allowed: Set<String> = []) {
            guard let data = FileManager.default.contents(atPath: path) else { return }
            search(path, Array(data), except: allowed)
        }

        func searchTree(_ dir: String) {
            for name in (try? FileManager.default.subpathsOfDirectory(atPath: dir)) ?? [] {
                var isDir: ObjCBool = false
                if FileManager.default.fileExists(atPath: dir + "/" + name, isDirectory: &isDir), !isDir.boolValue {
                    searchFile(dir + "/" + name)
                }
            }
        }

        func searchProcess(_ pid: pid_t) {
            for file in ["environ", "cmdline"] { searchFile("/proc/\(pid)/\(file)") }
        }
    }

    @Test func noSecretIsFoundAnywhereAfterAWorkout() throws {
        let d = try DaemonProcess()
        let sweep = Sweep()
        var outputs: [String] = []
        /// Runs the CLI and keeps its output for the search (fetches excepted: releasing is their job).
        func cli(_ args: [String], stdin: String? = nil, env: [String: String] = [:], releases: Bool = false) -> ToolResult {
            let r = d.cli(args, stdin: stdin, env: env)
            outputs.append(r.err)
            if !releases { outputs.append(r.out) }
            return r
        }
        let stdinToken = "ghp_" + Hex.encode(randomBytes(18))
        let sealedToken = "glpat-" + Hex.encode(randomBytes(10))
        let clientSecret = "oauth-" + Hex.encode(randomBytes(16))
        #expect(cli(["connection", "add", "ghe", "--kind", "github-enterprise", "--url", "https://ghe.example.com"]).status == 0)
        #expect(cli(["connection", "add", "gl", "--kind", "gitlab", "--url", "https://gl.example.com"]).status == 0)
        #expect(cli(["project", "add", "web", "--connection", "ghe", "--repo", "acme/web"]).status == 0)
        #expect(cli(["project", "add", "api", "--connection", "gl", "--repo", "acme/api"]).status == 0)
        #expect(cli(["token", "put", "ghe", "--no-verify", "--username", "ci-bot"], stdin: stdinToken + "\n").status == 0)
        try cli(["intake-key"]).out.write(toFile: d.root + "/intake.pub", atomically: true, encoding: .utf8)
        let sealed = sh([latchkeyBinary, "token", "seal", "--intake-key", d.root + "/intake.pub"], stdin: sealedToken + "\n")
        outputs += [sealed.out, sealed.err]
        try sealed.out.write(toFile: d.root + "/token.sealed", atomically: true, encoding: .utf8)
        #expect(cli(["token", "put", "gl", "--no-verify", "--username", "ci-bot", "--sealed", d.root + "/token.sealed"]).status == 0)
        #expect(cli(["token", "put", "gl", "--no-verify", "--kind", "oauth-client", "--client-id", "app-1"], stdin: clientSecret + "\n").status == 0)
        // Three generated keys on web (the active one ed25519), one on api.
        #expect(cli(["deploy-key", "create", "web"]).status == 0)
        #expect(cli(["deploy-key", "rotate", "web", "--type", "ecdsa-p256"]).status == 0)
        #expect(cli(["deploy-key", "rotate", "web"]).status == 0)
        #expect(cli(["deploy-key", "create", "api"]).status == 0)

        // Builds redeem: token, deploy key, and exec with both.
        var sessionTokens: [String] = []
        var deployKeys: [[UInt8]] = []
        for project in ["web", "api"] {
            let open = cli(["session", "open", project, "--build", "leak", "--grant", "token", "--grant", "deploy-key", "--uses", "10", "--json"], releases: true)
            let session = try #require(try JSONSerialization.jsonObject(with: Data(open.out.utf8)) as? [String: Any])
            let token = try #require(session["token"] as? String)
            sessionTokens.append(token)
            let env = ["LATCHKEY_SESSION": token]
            let fetched = cli(["fetch", "token"], env: env, releases: true)
            #expect(fetched.out.contains(project == "web" ? stdinToken : sealedToken))
            let keyFile = d.root + "/\(project)-key"
            #expect(cli(["fetch", "deploy-key", "--out", keyFile], env: env, releases: true).status == 0)
            deployKeys.append(Array(try Data(contentsOf: URL(fileURLWithPath: keyFile))))
            unlink(keyFile)
            // exec: the command prints what it was given; Latchkey masks it.
            let log = d.root + "/exec-\(project).out"
            let exec = try #require(spawn(
                [latchkeyBinary, "exec", "--socket", d.socket, "--token-env", "GIT_TOKEN", "--",
                    "sh", "-c", "echo \"$GIT_TOKEN\"; cat \"$(echo \"$GIT_SSH_COMMAND\" | sed 's/.*-i \\([^ ]*\\).*/\\1/')\"; sleep 1"],
                environment: ProcessInfo.processInfo.environment.merging(env) { _, b in b }, stdoutPath: log, stderrPath: log))
            usleep(500_000)
            let execEnviron = FileManager.default.contents(atPath: "/proc/\(exec)/environ") ?? Data()
            let execCmdline = FileManager.default.contents(atPath: "/proc/\(exec)/cmdline") ?? Data()
            #expect(waitFor(exec) == 0)
            outputs.append(String(decoding: execEnviron, as: UTF8.self))  // holds LATCHKEY_SESSION by design
            outputs.append(String(decoding: execCmdline, as: UTF8.self))
            let printed = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            #expect(printed.contains("[MASKED]"), "exec masked what the command printed")
            outputs.append(printed)
        }
        #expect(cli(["token", "put", "ghe", "--no-verify", "--username", "ci-bot"], stdin: stdinToken.uppercased() + "\n").status == 0)
        #expect(cli(["token", "revoke", "ghe"]).status == 0)
        #expect(cli(["master-key", "rotate"]).status == 0)
        let export = cli(["audit", "export"])
        #expect(export.status == 0)
        try export.out.write(toFile: d.root + "/audit.jsonl", atomically: true, encoding: .utf8)

        // What to look for.
        let masterKey = Array(try Data(contentsOf: URL(fileURLWithPath: d.root + "/master.key")))
        sweep.needles = [
            Needle("token put from stdin", Array(stdinToken.utf8)),
            Needle("second token put from stdin", Array(stdinToken.uppercased().utf8)),
            Needle("token put sealed", Array(sealedToken.utf8)),
            Needle("OAuth client secret", Array(clientSecret.utf8)),
            Needle("master key", masterKey),
        ] + sessionTokens.enumerated().map { Needle("session token \($0.offset)", Array($0.element.utf8)) }
        for (i, pem) in deployKeys.enumerated() {
            let body = String(decoding: pem, as: UTF8.self).split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
            let blob = Array(Data(base64Encoded: body) ?? Data())
            // The private section holds the 64-byte ed25519 secret, seed then public key; its
            // base64 forms at every alignment also find the PEM text itself.
            let at = try #require(blob.firstRange(of: [0, 0, 0, 0x40]), "an ed25519 private key")
            sweep.needles.append(Needle("deploy key \(i) seed", Array(blob[at.upperBound..<(at.upperBound + 32)])))
        }
        #expect(sweep.needles.count == 9)
        // Controls: the search finds each secret where it was released on purpose.
        for (i, pem) in deployKeys.enumerated() {
            let seed = try #require(sweep.needles.first { $0.name == "deploy key \(i) seed" })
            #expect(seed.found(in: pem).contains { $0.hasPrefix("base64") }, "the seed's base64 forms find the PEM it came from")
        }
        #expect(sweep.needles[0].found(in: Array("line\n\(stdinToken)\n".utf8)) == ["raw"])
        #expect(!sweep.needles[0].found(in: Array(Data(("x:" + stdinToken).utf8).base64EncodedString().utf8)).isEmpty)

        // The daemon's process while it runs.
        let daemonPID = d.pid
        sweep.searchProcess(daemonPID)
        let limits = (try? String(contentsOfFile: "/proc/\(daemonPID)/limits", encoding: .utf8)) ?? ""
        let core = limits.split(separator: "\n").first { $0.hasPrefix("Max core file size") } ?? ""
        #expect(core.split(separator: " ").filter { $0 == "0" }.count == 2, "core dumps off: \(core)")
        // A crash leaves the WAL as it was; then a graceful stop checkpoints it.
        d.kill9()
        sweep.searchTree(d.dataDir)
        try d.start()
        sweep.searchProcess(d.pid)
        d.stop()
        sweep.searchTree(d.dataDir)
        sweep.searchFile(d.logPath)
        sweep.searchFile(d.root + "/audit.jsonl")
        // Test output: everything the commands printed but the releases themselves, and
        // exec's own environment, which carries the session token by design.
        for (i, out) in outputs.enumerated() {
            sweep.search("command output \(i)", Array(out.utf8), except: Set(sweep.needles.map(\.name).filter { $0.hasPrefix("session token") }))
        }
        #expect(sweep.leaks.isEmpty, "leaked: \(sweep.leaks)")
        print("leak sweep: \(sweep.needles.count) secrets in \(sweep.needles.first?.forms.count ?? 0) forms each, searched in \(sweep.places) places "
            + "(\(sweep.bytesSearched / 1024) KiB: store, WAL, log, audit export, command output, /proc environ and cmdline): leaked: \(sweep.leaks.count)")
    }

    /// The daemon running as an ordinary user: its /proc files belong to root (the mark
    /// of a non-dumpable process), that user cannot read its environment or attach to it,
    /// and core dumps are off.
    @Test func theDaemonIsNeitherDumpableNorAttachable() throws {
        let nobody: UInt32 = 65534
        let root = makeTempDirectory("nobody")
        chmod(root, 0o755)
        chown(root, nobody, nobody)
        let policies = root + "/policies"
        mkdir(policies, 0o755)
        try daemonUserPolicy.write(toFile: policies + "/policy.yaml", atomically: true, encoding: .utf8)
        let initialized = sh([latchkeyBinary, "init", "--data-dir", root + "/data", "--key-file", root + "/master.key"], asUID: nobody)
        #expect(initialized.status == 0, "\(initialized.err)")
        let socket = root + "/latchkey.sock"
        let pid = try #require(spawn(
            ["setpriv", "--reuid=\(nobody)", "--regid=\(nobody)", "--clear-groups", "--", latchkeyBinary, "serve",
                "--data-dir", root + "/data", "--policies", policies, "--socket", socket, "--key-file", root + "/master.key"],
            environment: ProcessInfo.processInfo.environment, stdoutPath: root + "/daemon.log", stderrPath: root + "/daemon.log"))
        defer {
            kill(pid, SIGTERM)
            _ = waitFor(pid)
        }
        var up = false
        for _ in 0..<200 where !up {
            up = sh([latchkeyBinary, "health", "--socket", socket], asUID: nobody).status == 0
            if !up { usleep(25_000) }
        }
        #expect(up, "daemon as uid \(nobody): \((try? String(contentsOfFile: root + "/daemon.log", encoding: .utf8)) ?? "")")
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        #expect(status.contains("Uid:\t\(nobody)\t\(nobody)"), "the daemon runs as uid \(nobody)")
        var st = stat()
        #expect(stat("/proc/\(pid)/environ", &st) == 0)
        #expect(st.st_uid == 0, "a non-dumpable process's /proc files belong to root (environ is owned by uid \(st.st_uid))")
        let environ = sh(["cat", "/proc/\(pid)/environ"], asUID: nobody)
        #expect(environ.status != 0 && environ.out.isEmpty, "its own user cannot read its environment")
        let mem = sh(["dd", "if=/proc/\(pid)/mem", "of=/dev/null", "bs=1", "count=1"], asUID: nobody)
        #expect(mem.status != 0, "nor its memory")
        let attach = sh(["timeout", "5", "strace", "-p", "\(pid)", "-e", "trace=none"], asUID: nobody)
        #expect(attach.status != 0 && attach.err.contains("Operation not permitted"), "nor attach to it: \(attach.err)")
        let limits = (try? String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8)) ?? ""
        let core = limits.split(separator: "\n").first { $0.hasPrefix("Max core file size") } ?? ""
        #expect(core.split(separator: " ").filter { $0 == "0" }.count == 2, "core dumps off: \(core)")
    }
}
