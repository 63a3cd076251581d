import ArgumentParser
import Foundation
import LatchkeyAPI
import LatchkeyClient

/// `latchkey exec -- COMMAND…`: the one line a build script needs.
struct ExecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec",
        abstract: "Redeem the session, run a command with the deploy key and token set up, mask secrets in its output.",
        discussion: """
            --ssh key serves the deploy key through a named pipe (0600, in a private directory) that
            ssh reads like a key file, and sets GIT_SSH_COMMAND: the key is never written to a file, so
            nothing holding it outlives exec, even killed with SIGKILL; --ssh agent sets SSH_AUTH_SOCK to
            the session's agent instead (the key never leaves the daemon; a session with ssh-cert lists
            its certificate there too); --ssh cert serves the session's key the same way (its
            certificate, public, is a file beside it) and points GIT_SSH_COMMAND at them; --ssh none
            skips all of it. Without --ssh, it is key when the session was granted deploy-key, else cert
            when it was granted ssh-cert, else agent when it was granted deploy-key-agent, and none otherwise (exec
            asks the daemon, GET /v1/session, which takes no use). --token-env NAME puts the token in that variable (the session's minted repository token when it carries repo-token)
            (and its username in NAME_USERNAME). Every released secret is replaced with [MASKED] in
            the command's stdout and stderr (also split across reads, base64-, URL- or JSON-encoded,
            and line by line for the key). The command's exit status is passed through, and every
            file made is removed when it ends, also when it is killed. --session-file PATH reads the
            session token from PATH and removes the file at once, so the token is never in an
            environment variable a process of the build could read.
            """)

    @Option(help: "How the command gets SSH: key (a 0600 key file and GIT_SSH_COMMAND), agent (the session's ssh-agent), cert (the session's certificate and key as files) or none (default: key when the session was granted deploy-key, else cert when it was granted ssh-cert, none otherwise).")
    var ssh: String?
    @Option(help: "Put the token in this environment variable.") var tokenEnv: String?
    @Option(help: "ssh's StrictHostKeyChecking for GIT_SSH_COMMAND: yes, accept-new or no.") var strictHostKeyChecking = "accept-new"
    @Option(help: "A known_hosts file for GIT_SSH_COMMAND (default: ssh's own).") var knownHosts: String?
    @OptionGroup var session: SessionTokenOptions
    @OptionGroup var client: ClientOptions
    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments (after --).") var command: [String] = []

    func validate() throws {
        if let ssh, !["key", "agent", "cert", "none"].contains(ssh) { throw ValidationError("--ssh must be key, agent, cert or none") }
        guard ["yes", "accept-new", "no"].contains(strictHostKeyChecking) else {
            throw ValidationError("--strict-host-key-checking must be yes, accept-new or no")
        }
        if let t = tokenEnv, t.isEmpty || !t.utf8.allSatisfy({ ($0 >= 65 && $0 <= 90) || ($0 >= 48 && $0 <= 57) || $0 == 95 }) {
            throw ValidationError("--token-env must be an upper-case variable name like GIT_TOKEN")
        }
        if command.first == "--" ? command.count < 2 : command.isEmpty { throw ValidationError("give the command after --") }
    }

    func run() throws {
        disableCoreDumps()
        // A reader of the key pipe that leaves early gives EPIPE, not a signal.
        signal(SIGPIPE, SIG_IGN)
        let argv = command.first == "--" ? Array(command.dropFirst()) : command
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "LATCHKEY_SESSION")  // the command needs what was released, not the session
        var secrets: [[UInt8]] = []
        var keyPipe: KeyPipe?
        defer { keyPipe?.remove() }
        do {
            let token = try session.token(consumingFile: true)
            let c = try client.client()
            // What the session carries (`GET /v1/session`, no use taken) picks the SSH mode
            // and whether --token-env gets the connection's token or a minted one.
            let own: SessionInfo? = ssh == nil || tokenEnv != nil ? try c.call("GET", "/v1/session", bearer: token) : nil
            let mode = try ssh ?? own.map(Self.defaultSSH) ?? Self.defaultSSH(c, token: token)
            if mode == "key" {
                let key: ReleasedDeployKey = try c.call("GET", "/v1/session/deploy-key", bearer: token)
                secrets.append(Array(key.privateKey.utf8))
                let pipe = try KeyPipe(key: Array(key.privateKey.utf8), under: KeyPipe.defaultParent)
                keyPipe = pipe
                let keyPath = pipe.path
                var sshCommand = "ssh -i \(keyPath) -o IdentitiesOnly=yes -o IdentityAgent=none -o StrictHostKeyChecking=\(strictHostKeyChecking)"
                if let knownHosts { sshCommand += " -o UserKnownHostsFile=\(knownHosts)" }
                env["GIT_SSH_COMMAND"] = sshCommand
                env["LATCHKEY_DEPLOY_KEY"] = keyPath
            }
            if mode == "cert" {
                let cert: ReleasedSSHCertificate = try c.call("GET", "/v1/session/ssh-cert", bearer: token)
                secrets.append(Array(cert.privateKey.utf8))
                // The key through a pipe, as for --ssh key; the certificate is public.
                let pipe = try KeyPipe(key: Array(cert.privateKey.utf8), under: KeyPipe.defaultParent, name: "id_ed25519")
                keyPipe = pipe
                let certPath = try pipe.addPublicFile(name: "id_ed25519-cert.pub", contents: Array((cert.certificate + "\n").utf8))
                let keyPath = pipe.path
                var sshCommand = "ssh -i \(keyPath) -o CertificateFile=\(certPath) -o IdentitiesOnly=yes -o IdentityAgent=none -o StrictHostKeyChecking=\(strictHostKeyChecking)"
                if let knownHosts { sshCommand += " -o UserKnownHostsFile=\(knownHosts)" }
                env["GIT_SSH_COMMAND"] = sshCommand
                env["LATCHKEY_SSH_KEY"] = keyPath
                env["LATCHKEY_SSH_CERTIFICATE"] = certPath
            }
            if mode == "agent" {
                let agent: SessionAgentInfo = try c.call("POST", "/v1/session/agent", bearer: token)
                env["SSH_AUTH_SOCK"] = agent.socketPath
                var sshCommand = "ssh -o IdentityAgent=\(agent.socketPath) -o StrictHostKeyChecking=\(strictHostKeyChecking)"
                if let knownHosts { sshCommand += " -o UserKnownHostsFile=\(knownHosts)" }
                env["GIT_SSH_COMMAND"] = sshCommand
            }
            if let tokenEnv, own?.grants.contains(Grant.repoToken) == true {
                let t: ReleasedRepoToken = try c.call("GET", "/v1/session/repo-token", bearer: token)
                secrets.append(Array(t.token.utf8))
                env[tokenEnv] = t.token
                // The user name each server takes with such a token over HTTPS (Bitbucket's
                // repository tokens go as a Bearer header: no user name).
                env[tokenEnv + "_USERNAME"] = t.kind == "github-enterprise" ? "x-access-token" : t.kind == "gitlab" ? "oauth2" : ""
            } else if let tokenEnv {
                let t: ReleasedToken = try c.call("GET", "/v1/session/token", bearer: token)
                secrets.append(Array(t.token.utf8))
                env[tokenEnv] = t.token
                env[tokenEnv + "_USERNAME"] = t.username ?? t.clientId ?? ""
            }
        } catch { throw fail(error) }
        let status = ChildProcess.run(argv, environment: env, masker: SecretMasker(secrets: secrets))
        keyPipe?.remove()
        throw ExitCode(status)
    }

    /// With no `--ssh`: what the session carries (`GET /v1/session`, which takes no use)
    /// decides — the key pipe for deploy-key, else the certificate for ssh-cert, else the
    /// agent for deploy-key-agent, else none.
    static func defaultSSH(_ c: LatchkeyClient, token: String) throws -> String {
        defaultSSH(try c.call("GET", "/v1/session", bearer: token))
    }

    static func defaultSSH(_ session: SessionInfo) -> String {
        if session.grants.contains(Grant.deployKey) { return "key" }
        if session.grants.contains(Grant.sshCert) { return "cert" }
        if session.grants.contains(Grant.deployKeyAgent) { return "agent" }
        return "none"
    }

    enum Grant {
        static let deployKey = "deploy-key"
        static let sshCert = "ssh-cert"
        static let deployKeyAgent = "deploy-key-agent"
        static let repoToken = "repo-token"
    }
}

/// Removes a directory we made and everything in it.
func removeTree(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

/// Runs a command with its stdout and stderr through a masker each, forwarding
/// SIGINT/SIGTERM/SIGHUP to it; returns its exit status (128 + signal if killed).
enum ChildProcess {
    static func run(_ argv: [String], environment: [String: String], masker: SecretMasker) -> Int32 {
        var outPipe: [Int32] = [0, 0]
        var errPipe: [Int32] = [0, 0]
        guard pipe(&outPipe) == 0, pipe(&errPipe) == 0 else { printError("cannot create pipes"); return 71 }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        for fd in outPipe + errPipe { posix_spawn_file_actions_addclose(&actions, fd) }
        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in cArgs { free(p) }
            for p in cEnv { if let p { memset(p, 0, strlen(p)) }; free(p) }
            posix_spawn_file_actions_destroy(&actions)
        }
        // The command gets default dispositions for the signals exec ignores.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGPIPE, SIGINT, SIGTERM, SIGHUP] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, argv[0], &actions, &attributes, cArgs, cEnv)
        close(outPipe[1])
        close(errPipe[1])
        guard rc == 0 else {
            printError("cannot run \(argv[0]): \(String(cString: strerror(rc)))")
            return 127
        }
        // Forward the signals a CI sends to cancel a build.
        for s in [SIGINT, SIGTERM, SIGHUP] { signal(s, SIG_IGN) }
        let forwarders = [SIGINT, SIGTERM, SIGHUP].map { s -> any DispatchSourceSignal in
            let src = DispatchSource.makeSignalSource(signal: s, queue: .global())
            src.setEventHandler { kill(pid, s) }
            src.resume()
            return src
        }
        defer { forwarders.forEach { $0.cancel() } }

        var maskers = [outPipe[0]: masker, errPipe[0]: masker]
        let sinks = [outPipe[0]: Int32(1), errPipe[0]: Int32(2)]
        var open = [outPipe[0], errPipe[0]]
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !open.isEmpty {
            var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let n = poll(&fds, nfds_t(fds.count), -1)
            if n < 0 { if errno == EINTR { continue } else { break } }
            for p in fds where p.revents != 0 {
                let got = read(p.fd, &buffer, buffer.count)
                if got > 0 {
                    writeAll(sinks[p.fd]!, maskers[p.fd]!.process(buffer[0..<got]))
                } else if got == 0 || (errno != EINTR && errno != EAGAIN) {
                    writeAll(sinks[p.fd]!, maskers[p.fd]!.finish())
                    close(p.fd)
                    open.removeAll { $0 == p.fd }
                }
            }
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let signaled = (status & 0x7f) != 0 && (status & 0x7f) != 0x7f
        return signaled ? 128 + (status & 0x7f) : (status >> 8) & 0xff
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + sent, $0.count - sent) }
            if n < 0 { if errno == EINTR { continue } else { return } }
            sent += n
        }
    }
}
