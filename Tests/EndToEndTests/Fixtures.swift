import LatchkeyTestSupport
import Foundation
import Testing

/// Where the `latchkey` binary of this build lives (next to the test bundle).
let latchkeyBinary: String = {
    let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    return bundle.appendingPathComponent("latchkey").path
}()

struct ToolResult {
    var status: Int32
    var out: String
    var err: String
}

/// Runs a program to completion; `asUID` runs it as another user through setpriv.
@discardableResult
func sh(_ argv: [String], stdin: String? = nil, env: [String: String] = [:], cwd: String? = nil, asUID: UInt32? = nil) -> ToolResult {
    var args = argv
    if let uid = asUID { args = ["setpriv", "--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "--"] + args }
    var environment = ProcessInfo.processInfo.environment
    environment.removeValue(forKey: "LATCHKEY_SESSION")
    environment.removeValue(forKey: "SSH_AUTH_SOCK")
    for (k, v) in env { environment[k] = v }
    let r = runCaptured(args, stdin: stdin.map { Data($0.utf8) }, environment: environment, cwd: cwd)
    return ToolResult(status: r.status, out: String(decoding: r.out, as: UTF8.self), err: String(decoding: r.err, as: UTF8.self))
}

/// A free TCP port on loopback.
func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return Int(UInt16(bigEndian: addr.sin_port))
}

func makeTempDirectory(_ tag: String) -> String {
    let d = "/tmp/lk-e2e-\(tag)-\(UUID().uuidString.prefix(8))"
    mkdir(d, 0o755)
    return d
}

/// A real `latchkey serve` in its own process on a temporary data directory.
final class DaemonProcess {
    let root: String
    let dataDir: String
    let socket: String
    let policies: String
    let logPath: String
    let keyFile: String
    /// Extra options for `latchkey serve` (e.g. `--log-format json`).
    let serveArguments: [String]
    private var child: pid_t?

    /// A new store (`latchkey init`), or with `dataDir` and `keyFile` an existing one
    /// (e.g. made by `latchkey restore`).
    init(policy: String? = nil, serveArguments: [String] = [], dataDir existing: String? = nil, keyFile existingKey: String? = nil) throws {
        root = makeTempDirectory("daemon")
        dataDir = existing ?? root + "/data"
        socket = root + "/latchkey.sock"
        policies = root + "/policies"
        logPath = root + "/daemon.log"
        keyFile = existingKey ?? root + "/master.key"
        self.serveArguments = serveArguments
        mkdir(policies, 0o755)
        let p = policy ?? daemonUserPolicy
        try p.write(toFile: policies + "/policy.yaml", atomically: true, encoding: .utf8)
        if existing == nil {
            let r = sh([latchkeyBinary, "init", "--data-dir", dataDir, "--key-file", keyFile])
            guard r.status == 0 else { throw FixtureError("latchkey init failed: \(r.err)") }
        }
        try start()
    }

    func start() throws {
        child = spawn(
            [latchkeyBinary, "serve", "--data-dir", dataDir, "--policies", policies, "--socket", socket, "--key-file", keyFile, "--threads", "2"]
                + serveArguments,
            environment: ProcessInfo.processInfo.environment, stdoutPath: logPath, stderrPath: logPath)
        guard child != nil else { throw FixtureError("cannot start latchkey serve") }
        for _ in 0..<200 {
            if sh([latchkeyBinary, "health", "--socket", socket]).status == 0 { return }
            usleep(25_000)
        }
        throw FixtureError("daemon did not come up: \(log)")
    }

    var pid: Int32 { child ?? 0 }

    /// How long a graceful stop may take before the test counts the daemon as hung.
    static let stopSeconds = 60.0

    /// SIGTERM and wait: the graceful stop. A daemon still running after `stopSeconds` is
    /// a failure of the test, with its threads' stacks, and is then killed: a hung daemon
    /// must not hold the test (and the suite's threads) for good.
    func stop() {
        guard let c = child else { return }
        kill(c, SIGTERM)
        if waitFor(c, atMost: Self.stopSeconds) == nil {
            Issue.record("latchkey serve (pid \(c), \(dataDir)) did not stop within \(Int(Self.stopSeconds)) s of SIGTERM; its threads:\n\(threadStacks(of: c))\nits log:\n\(log.suffix(4000))")
            kill(c, SIGKILL)
            _ = waitFor(c)
        }
        child = nil
    }

    func kill9() {
        guard let c = child else { return }
        kill(c, SIGKILL)
        _ = waitFor(c)
        child = nil
    }

    /// Runs the CLI against this daemon.
    @discardableResult
    func cli(_ args: [String], stdin: String? = nil, env: [String: String] = [:], asUID: UInt32? = nil) -> ToolResult {
        var argv = args
        argv.insert(contentsOf: ["--socket", socket], at: args.firstIndex(of: "--") ?? args.count)
        return sh([latchkeyBinary] + argv, stdin: stdin, env: env, asUID: asUID)
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    deinit { stop() }
}

struct FixtureError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// A real OpenSSH server on a loopback port with a throwaway host key, an
/// authorized_keys file the test controls, and a bare git repository with a commit.
final class SSHServer {
    let root: String
    let port: Int
    let authorizedKeys: String
    let repository: String
    private var child: pid_t = 0

    /// `extraConfig`: more sshd_config lines (TrustedUserCAKeys, AuthorizedPrincipalsFile, …).
    init(extraConfig: String = "") throws {
        root = makeTempDirectory("sshd")
        port = freePort()
        authorizedKeys = root + "/authorized_keys"
        repository = root + "/repo.git"
        mkdir("/run/sshd", 0o755)
        FileManager.default.createFile(atPath: authorizedKeys, contents: nil)
        guard sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", root + "/host_key"]).status == 0 else {
            throw FixtureError("cannot make a host key")
        }
        let config = """
            Port \(port)
            ListenAddress 127.0.0.1
            HostKey \(root)/host_key
            AuthorizedKeysFile \(authorizedKeys)
            StrictModes no
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            PubkeyAuthentication yes
            PermitRootLogin prohibit-password
            UsePAM no
            PidFile \(root)/sshd.pid
            LogLevel VERBOSE
            \(extraConfig)
            """
        try config.write(toFile: root + "/sshd_config", atomically: true, encoding: .utf8)
        // The bare repository with one commit.
        let work = root + "/work"
        for step in [
            ["git", "init", "-q", "--bare", "-b", "main", repository],
            ["git", "init", "-q", "-b", "main", work],
        ] { guard sh(step).status == 0 else { throw FixtureError("\(step) failed") } }
        try "hello from latchkey\n".write(toFile: work + "/README", atomically: true, encoding: .utf8)
        let gitEnv = ["GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"]
        for step in [["git", "add", "README"], ["git", "commit", "-q", "-m", "first"], ["git", "push", "-q", repository, "main"]] {
            let r = sh(step, env: gitEnv, cwd: work)
            guard r.status == 0 else { throw FixtureError("\(step) failed: \(r.err)") }
        }
        guard let pid = spawn(["/usr/sbin/sshd", "-D", "-e", "-f", root + "/sshd_config"], environment: [:],
            stdoutPath: root + "/sshd.log", stderrPath: root + "/sshd.log")
        else { throw FixtureError("cannot start sshd") }
        child = pid
        for _ in 0..<100 {
            let fd = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            addr.sin_port = UInt16(port).bigEndian
            let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
            close(fd)
            if ok { return }
            usleep(50_000)
        }
        throw FixtureError("sshd did not start; see \(root)/sshd.log")
    }

    func authorize(_ publicLine: String) throws {
        let h = FileHandle(forWritingAtPath: authorizedKeys)!
        h.seekToEndOfFile()
        h.write(Data((publicLine + "\n").utf8))
        try h.close()
    }

    var url: String { "ssh://root@127.0.0.1:\(port)\(repository)" }

    /// What sshd logged (why it refused a key or certificate).
    var log: String { (try? String(contentsOfFile: root + "/sshd.log", encoding: .utf8)) ?? "" }

    /// GIT_SSH_COMMAND options that trust this throwaway server.
    var sshOptions: String { "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR" }

    deinit {
        kill(child, SIGTERM)
        _ = waitFor(child)
    }
}
