import ArgumentParser
import Foundation
import LatchkeyAPI
import LatchkeyClient
import LatchkeyCrypto

struct SessionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "session", abstract: "Build sessions: runners open and close them, admins list and revoke them.",
        subcommands: [Open.self, Close.self, List.self, Revoke.self])

    struct Open: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Open a session for one build (runner). The token is shown once: hand it to the build as LATCHKEY_SESSION.")
        @Argument var project: String
        @Option(help: "The build's id (for the audit log).") var build: String
        @Option(help: "deploy-key, deploy-key-agent, token, ssh-cert and/or repo-token (repeat the option).") var grant: [String] = []
        @Option(help: ArgumentHelp("What the repo-token grant's minted token carries (repeat): contents:read (GitHub), read_repository and a role such as reporter (GitLab), REPO_READ (Bitbucket); default read-only. The policy caps it.", valueName: "permission"))
        var permission: [String] = []
        @Option(help: "Time to live, e.g. 10m (the policy caps it).") var ttl: String?
        @Option(help: "How many redeems (the policy caps it).") var uses: Int?
        @Option(help: "Write the token to this file (mode 0600, created exclusively) instead of printing it; the build reads it with --session-file.")
        var tokenFile: String?
        @OptionGroup var client: ClientOptions

        func run() throws {
            let ttlSeconds = try ttl.map { try seconds($0, option: "--ttl") }
            do {
                let s: SessionOpened = try client.client().call(
                    "POST", "/v1/sessions",
                    body: SessionOpenRequest(project: project, build: build, grants: grant.isEmpty ? ["deploy-key"] : grant, ttlSeconds: ttlSeconds, uses: uses,
                        permissions: permission.isEmpty ? nil : permission))
                if let tokenFile {
                    var bytes = Array((s.token + "\n").utf8)
                    defer { wipe(&bytes) }
                    try writeExclusive(path: tokenFile, contents: bytes)
                }
                if client.json {
                    var shown = s
                    if tokenFile != nil { shown.token = "" }
                    return try printJSON(shown)
                }
                print("session \(s.id) for \(s.project) (\(s.grants.joined(separator: ", ")), \(s.uses) uses) until \(s.expiresAt)")
                if let tokenFile { print("token written to \(tokenFile)") } else { print("LATCHKEY_SESSION=\(s.token)") }
            } catch { throw fail(error) }
        }
    }

    struct Close: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Close a session you opened (runner).")
        @Argument var id: String
        @OptionGroup var client: ClientOptions
        func run() throws {
            do {
                let s: SessionInfo = try client.client().call("DELETE", "/v1/sessions/\(pathComponent(id))")
                if client.json { return try printJSON(s) }
                print("closed session \(s.id) (\(s.usesLeft.map { "\(s.maxUses - $0) of \(s.maxUses) uses" } ?? "on \(s.host)"))")
            } catch { throw fail(error) }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List live sessions with their host (admin; on a fleet, every host's).")
        @OptionGroup var client: ClientOptions
        func run() throws {
            do {
                let c = try client.client()
                let list: [SessionInfo] = try c.call("GET", "/v1/sessions")
                if client.json { return try printJSON(list) }
                printTable(["ID", "HOST", "PROJECT", "BUILD", "RUNNER", "GRANTS", "USES LEFT", "EXPIRES"], list.map {
                    [$0.id, $0.host, $0.project, $0.build, String($0.runnerUid), $0.grants.joined(separator: ","),
                     "\($0.usesLeft.map(String.init) ?? "?")/\($0.maxUses)", $0.expiresAt]
                })
                // Minted repository tokens: those of live sessions, and revocations still pending.
                let minted: [MintedTokenInfo] = try c.call("GET", "/v1/minted-tokens")
                if !minted.isEmpty {
                    print("")
                    printMintedTokens(minted)
                }
            } catch { throw fail(error) }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "End a session at once (admin).")
        @Argument var id: String
        @OptionGroup var client: ClientOptions
        func run() throws {
            do {
                let s: SessionInfo = try client.client().call("POST", "/v1/sessions/\(pathComponent(id))/revoke")
                if client.json { return try printJSON(s) }
                print("revoked session \(s.id)")
            } catch { throw fail(error) }
        }
    }
}

/// Where a build finds its session token: `--session-file`, else `LATCHKEY_SESSION`.
struct SessionTokenOptions: ParsableArguments {
    @Option(help: "A file holding the session token (default: $LATCHKEY_SESSION).") var sessionFile: String?

    /// The token; with `consumingFile`, the session file is removed once read (so no other
    /// process of the build finds it later).
    func token(consumingFile: Bool = false) throws -> String {
        if let sessionFile {
            guard let t = try? String(contentsOfFile: sessionFile, encoding: .utf8) else { throw InputError("cannot read --session-file \(sessionFile)") }
            if consumingFile && unlink(sessionFile) != 0 {
                throw InputError("cannot remove --session-file \(sessionFile) after reading it: \(String(cString: strerror(errno))); the build user needs write access to its directory")
            }
            return t.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard let t = ProcessInfo.processInfo.environment["LATCHKEY_SESSION"], !t.isEmpty else {
            throw InputError("no session token: set LATCHKEY_SESSION or pass --session-file")
        }
        return t
    }
}

struct FetchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch", abstract: "Inside a build: redeem the session for what it was granted.", subcommands: [DeployKey.self, Token.self, FetchSSHCertCommand.self, FetchRepoTokenCommand.self])

    struct DeployKey: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "deploy-key", abstract: "Write the OpenSSH private key (mode 0600, created exclusively), or print it.")
        @Option(help: "The file to create (refused if it exists).") var out: String?
        @OptionGroup var session: SessionTokenOptions
        @OptionGroup var client: ClientOptions

        func run() throws {
            disableCoreDumps()
            do {
                let key: ReleasedDeployKey = try client.client().call("GET", "/v1/session/deploy-key", bearer: session.token())
                guard let out else { return print(key.privateKey, terminator: "") }
                try writeExclusive(path: out, contents: Array(key.privateKey.utf8))
                if client.json {
                    try printJSON(["path": out, "fingerprint": key.fingerprint, "project": key.project, "version": "\(key.version)"])
                } else {
                    print("wrote \(out) (\(key.type) \(key.fingerprint), \(key.project) v\(key.version))")
                }
            } catch { throw fail(error) }
        }
    }

    struct Token: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the connection's username on the first line and the token on the second (or --json).")
        @OptionGroup var session: SessionTokenOptions
        @OptionGroup var client: ClientOptions

        func run() throws {
            disableCoreDumps()
            do {
                let t: ReleasedToken = try client.client().call("GET", "/v1/session/token", bearer: session.token())
                if client.json { return try printJSON(t) }
                print(t.username ?? t.clientId ?? "")
                print(t.token)
            } catch { throw fail(error) }
        }
    }
}

/// Creates `path` with O_CREAT|O_EXCL and mode 0600 and writes `contents`.
func writeExclusive(path: String, contents: [UInt8]) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    guard fd >= 0 else {
        throw InputError(errno == EEXIST ? "\(path) already exists; refusing to overwrite it" : "cannot create \(path): \(String(cString: strerror(errno)))")
    }
    defer { close(fd) }
    fchmod(fd, 0o600)
    let written = contents.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) }
    guard written == contents.count else { unlink(path); throw InputError("cannot write \(path)") }
}

struct AgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Inside a build: start the session's ssh-agent (the key never leaves the daemon).",
        discussion: """
            Prints `SSH_AUTH_SOCK=…; export SSH_AUTH_SOCK;` like ssh-agent does, so
            `eval "$(latchkey agent)"` sets it up. The agent lists and signs with the session's
            deploy key only, refuses add/remove/lock, audits every signature, and disappears when
            the session ends.
            """)
    @OptionGroup var session: SessionTokenOptions
    @OptionGroup var client: ClientOptions

    func run() throws {
        do {
            let a: SessionAgentInfo = try client.client().call("POST", "/v1/session/agent", bearer: session.token())
            if client.json { return try printJSON(a) }
            print("SSH_AUTH_SOCK=\(a.socketPath); export SSH_AUTH_SOCK;")
            print("echo Latchkey session agent with \(a.fingerprint) until \(a.expiresAt);")
        } catch { throw fail(error) }
    }
}
