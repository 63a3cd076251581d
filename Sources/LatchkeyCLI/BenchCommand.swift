import ArgumentParser
import Foundation
import LatchkeyAPI
import LatchkeyAudit
import LatchkeyClient
import LatchkeyCrypto
import LatchkeyPostgres
import LatchkeySSH
import LatchkeyStore

/// `latchkey bench`: requests per second and latency of the daemon's paths, with every
/// audited request's row counted (not assumed), and OpenSSH's ssh-agent as the reference
/// for agent signatures.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the daemon: release, open-release-close, agent-sign and health, with audit rows checked.",
        discussion: """
            Without --socket it starts a throwaway daemon (this binary) on a temporary data
            directory, creates a project, key and token, and drives each workload from N
            connections over the Unix socket. Build with -c release for meaningful figures.
            """)

    @Option(help: "Concurrent connections.") var clients = 16
    @Option(help: "Seconds per workload.") var duration = 5.0
    @Option(help: "release, open-release-close, agent-sign, health, offline or all.") var workload = "all"
    @Option(help: "Measure a running daemon at this socket instead (audit rows are not checked then; no offline figures).") var socket: String?
    @Option(help: "Size of the offline figures: 1 is 1,000,000 audit rows, 100,000 secrets, 10,000 projects and 10,000 sessions.")
    var scale = 1.0
    @OptionGroup var database: DatabaseOptions
    @Flag(help: "Print JSON.") var json = false

    static let workloads = ["health", "release", "open-release-close", "agent-sign"]

    func validate() throws {
        guard (Self.workloads + ["offline", "all"]).contains(workload) else {
            throw ValidationError("--workload must be release, open-release-close, agent-sign, health, offline or all")
        }
        guard (1...1024).contains(clients) else { throw ValidationError("--clients must be between 1 and 1024") }
        guard duration > 0, duration <= 600 else { throw ValidationError("--duration must be between 0 and 600 seconds") }
        guard scale > 0, scale <= 10 else { throw ValidationError("--scale must be above 0 and at most 10") }
        if database.url != nil && (workload == "offline" || socket != nil) {
            throw ValidationError("--database benchmarks a throwaway daemon on that database (release, open-release-close, agent-sign, health); the offline figures and --socket are SQLite-only")
        }
        if workload == "offline" && socket != nil {
            throw ValidationError("offline figures need a throwaway daemon of their own; leave out --socket")
        }
    }

    struct Report: Encodable {
        var workloads: [LoadResult]
        var offline: [OfflineFigure]
    }

    func run() throws {
        let wanted = workload == "all" ? Self.workloads : workload == "offline" ? [] : [workload]
        var results: [LoadResult] = []
        var figures: [OfflineFigure] = []
        do {
            if !wanted.isEmpty {
                let bench =
                    try socket.map { BenchDaemon(attachedTo: $0) }
                    ?? database.url.map { try BenchDaemon.start(database: $0, passwordFile: database.databasePasswordFile) }
                    ?? BenchDaemon.start()
                defer { bench.stop() }
                let fixture = try bench.prepare()
                for w in wanted {
                    results += try bench.measure(w, clients: clients, duration: duration, fixture: fixture)
                }
            }
            if socket == nil && database.url == nil && (workload == "all" || workload == "offline") {
                figures = try OfflineBench.run(scale: scale) { if !json { printError("offline: \($0)") } }
            }
        } catch { throw fail(error) }
        if json { return try printJSON(Report(workloads: results, offline: figures)) }
        if !results.isEmpty {
            printTable(["WORKLOAD", "CLIENTS", "REQ/S", "P50 µs", "P90 µs", "P99 µs", "P99.9 µs", "MAX µs", "ERRORS", "AUDIT ROWS", "PEAK RSS", "NOTE"],
                results.map { r in
                    [r.workload, String(r.clients), String(format: "%.0f", r.perSecond), String(format: "%.0f", r.p50Micros),
                     String(format: "%.0f", r.p90Micros), String(format: "%.0f", r.p99Micros), String(format: "%.0f", r.p999Micros),
                     String(format: "%.0f", r.maxMicros), String(r.errors),
                     r.auditRows.map { "\($0)/\(r.auditRowsExpected ?? 0)\(r.auditMatches == true ? " ok" : " MISMATCH")" } ?? "-",
                     r.peakRSSKiB.map { "\($0 / 1024) MiB" } ?? "-", r.note ?? ""]
                })
        }
        if !figures.isEmpty {
            if !results.isEmpty { print("") }
            printTable(["OFFLINE", "VALUE", "TARGET", "MET", "DETAIL"],
                figures.map { f in
                    [f.name, f.value >= 100 ? "\(Int(f.value.rounded())) \(f.unit)" : String(format: "%.2f %@", f.value, f.unit), f.target,
                     f.met ? "yes" : "no", f.note]
                })
        }
        if results.contains(where: { $0.auditMatches == false }) { throw ExitCode(ExitStatus.software.rawValue) }
    }
}

/// The daemon a benchmark drives: a throwaway one it started, or a running one.
final class BenchDaemon {
    let socketPath: String
    let root: String?
    private var pid: pid_t?
    private var helpers: [pid_t] = []
    /// Whether `stop` removes the temporary directory (not when its caller owns it).
    var removesRoot = true
    /// The session cap of a throwaway daemon: room for the offline figure's 10,000 live
    /// sessions (at any scale up to 10), all opened by the benchmark's one runner uid.
    static let maxLiveSessions = 100_000

    init(attachedTo socket: String) {
        socketPath = socket
        root = nil
    }

    /// The PostgreSQL store a `--database` benchmark's daemon serves from (its rows are
    /// counted there).
    private var shared: PostgresDatabase?

    private init(root: String, pid: pid_t, shared: PostgresDatabase? = nil) {
        self.root = root
        self.pid = pid
        self.shared = shared
        socketPath = root + "/latchkey.sock"
    }

    var databasePath: String? { shared == nil ? root.map { $0 + "/data/latchkey.db" } : nil }

    /// A private temporary directory with the benchmark's policy (every role for the
    /// daemon's own user).
    static func makeRoot() throws -> String {
        var template = Array("/tmp/latchkey-bench-XXXXXX".utf8CString)
        guard let root = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }).map({ String(cString: $0) }) else {
            throw InputError("cannot create a temporary directory")
        }
        mkdir(root + "/policies", 0o755)
        let policy = """
            version: 1
            admins: { users: [$daemon] }
            auditors: { users: [$daemon] }
            runners:
              - { name: bench, who: { users: [$daemon] }, projects: ["*"], grants: [deploy-key, token], max_ttl: 1h, max_uses: 1000000, builds: { users: [$daemon] } }
            """
        try Data(policy.utf8).write(to: URL(fileURLWithPath: root + "/policies/bench.yaml"))
        chmod(root + "/policies/bench.yaml", 0o644)
        return root
    }

    /// A throwaway daemon on a fresh store.
    static func start() throws -> BenchDaemon {
        let root = try makeRoot()
        _ = try initializeStore(dataDirectory: root + "/data", source: .keyFile(path: root + "/master.key"), limits: .interactive)
        return try start(root: root)
    }

    /// A throwaway daemon on a new store in an empty PostgreSQL database (`--database`, as
    /// a role that may migrate it: its owner); the store stays there afterwards.
    static func start(database url: String, passwordFile: String?) throws -> BenchDaemon {
        let (db, _) = try PostgresDatabase.openAndMigrate(url: url, passwordFile: passwordFile)
        let root = try makeRoot()
        let store = Store(directory: root + "/data", database: db)
        guard !store.isInitialized else {
            db.close()
            try? FileManager.default.removeItem(atPath: root)
            throw InputError("\(db.location) already holds a store: `latchkey bench --database` needs an empty database of its own (it leaves its store there)")
        }
        try DataDirectory.prepare(root + "/data", create: true)
        let ring = try KeyRing.initialize(store: store, source: .keyFile(path: root + "/master.key"), limits: .interactive)
        try AuditLog.signFirstCheckpoint(store: store, signingKey: ring.auditSigning)
        var extra = ["--database", url]
        if let passwordFile { extra += ["--database-password-file", passwordFile] }
        let daemon = try start(root: root, extra: extra)
        daemon.shared = db
        return daemon
    }

    /// A daemon (this binary) on the store already in `root`/data; returns once it answers.
    static func start(root: String, extra: [String] = []) throws -> BenchDaemon {
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        guard let pid = spawnLogged([me, "serve", "--data-dir", root + "/data", "--policies", root + "/policies", "--socket", root + "/latchkey.sock",
            "--key-file", root + "/master.key", "--log-level", "warning",
            "--max-sessions-per-runner", String(BenchDaemon.maxLiveSessions)] + extra, log: root + "/daemon.log")
        else { throw InputError("cannot start a daemon for the benchmark") }
        let daemon = BenchDaemon(root: root, pid: pid)
        for _ in 0..<4000 {
            if (try? LatchkeyClient(socketPath: daemon.socketPath).health()) != nil { return daemon }
            usleep(2_500)
        }
        daemon.stop()
        throw InputError("the benchmark's daemon did not come up; see \(root)/daemon.log")
    }

    func stop() {
        for h in helpers { kill(h, SIGKILL); var s: Int32 = 0; waitpid(h, &s, 0) }
        helpers = []
        if let pid {
            kill(pid, SIGTERM)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            self.pid = nil
        }
        shared?.close()
        shared = nil
        if let root, removesRoot { try? FileManager.default.removeItem(atPath: root) }
    }

    var peakRSSKiB: Int? { status("VmHWM:") }
    var residentKiB: Int? { status("VmRSS:") }

    private func status(_ field: String) -> Int? {
        guard let pid, let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix(field) {
            return Int(line.split(separator: " ").dropFirst().first ?? "")
        }
        return nil
    }

    struct Fixture {
        let project: String
        let sessionToken: String
        let keyBlob: [UInt8]
    }

    /// A connection, project, ed25519 key, token and a long session for the workloads.
    func prepare() throws -> Fixture {
        let c = try LatchkeyClient(socketPath: socketPath)
        let suffix = Hex.encode(randomBytes(3))
        let project = "bench-\(suffix)"
        let _: ConnectionInfo = try c.call("POST", "/v1/connections", body: ConnectionRequest(name: project, kind: "github-enterprise", url: "https://bench.invalid"))
        let _: ProjectInfo = try c.call("POST", "/v1/projects", body: ProjectRequest(name: project, connection: project, repo: "bench/repo"))
        let key: DeployKeyInfo = try c.call("POST", "/v1/projects/\(project)/deploy-keys", body: DeployKeyRequest(type: "ed25519"))
        let intake: IntakeKey = try c.call("GET", "/v1/intake-key")
        var tokenBytes = Array(("ghp_" + Hex.encode(randomBytes(18))).utf8)
        let token = try SecretBytes(consuming: &tokenBytes)
        let sealed = Data(IntakeKeyPair.seal(token, to: Array(Data(base64Encoded: intake.publicKey) ?? Data()))).base64EncodedString()
        let _: TokenInfo = try c.call("POST", "/v1/connections/\(project)/tokens", body: TokenPutRequest(username: "bench", sealedToken: sealed))
        let s: SessionOpened = try c.call("POST", "/v1/sessions",
            body: SessionOpenRequest(project: project, build: "bench", grants: ["deploy-key", "token"], ttlSeconds: 3600, uses: 1_000_000))
        let blob = Array(Data(base64Encoded: String(key.publicKey.split(separator: " ")[1])) ?? Data())
        return Fixture(project: project, sessionToken: s.token, keyBlob: blob)
    }

    func measure(_ workload: String, clients: Int, duration: Double, fixture f: Fixture) throws -> [LoadResult] {
        let socket = socketPath
        let before: Int64? =
            if let shared {
                try? shared.read { db in try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(seq), 0) FROM audit") ?? 0 }
            } else {
                databasePath.flatMap { try? AuditReader.lastSeq(databasePath: $0) }
            }
        var result: LoadResult
        var rowsPerRequest = 0
        var actions: [String] = []
        switch workload {
        case "health":
            result = LoadRunner.run(workload: workload, clients: clients, duration: duration, makeClient: { _ in try UnixHTTPConnection(path: socket) }) {
                (try? $0.send(method: "GET", path: "/v1/health").status) == 200
            }
        case "release":
            let bearer = [("Authorization", "Bearer \(f.sessionToken)")]
            result = LoadRunner.run(workload: workload, clients: clients, duration: duration, makeClient: { _ in try UnixHTTPConnection(path: socket) }) {
                (try? $0.send(method: "GET", path: "/v1/session/token", headers: bearer).status) == 200
            }
            (rowsPerRequest, actions) = (1, ["secret.release"])
        case "open-release-close":
            let open = Array(#"{"project":"\#(f.project)","build":"bench","grants":["token"],"ttlSeconds":600,"uses":2}"#.utf8)
            result = LoadRunner.run(workload: workload, clients: clients, duration: duration, makeClient: { _ in try UnixHTTPConnection(path: socket) }) { conn in
                guard let a = try? conn.send(method: "POST", path: "/v1/sessions", body: open), a.status == 201,
                    let s = try? JSONDecoder().decode(SessionOpened.self, from: Data(a.body)),
                    (try? conn.send(method: "GET", path: "/v1/session/token", headers: [("Authorization", "Bearer \(s.token)")]).status) == 200,
                    (try? conn.send(method: "DELETE", path: "/v1/sessions/\(s.id)").status) == 200
                else { return false }
                return true
            }
            (rowsPerRequest, actions) = (3, ["session.open", "secret.release", "session.close"])
        default:  // agent-sign, then OpenSSH's ssh-agent with the same key and the same client code
            let c = try LatchkeyClient(socketPath: socket)
            let agent: SessionAgentInfo = try c.call("POST", "/v1/session/agent", bearer: f.sessionToken)
            let request = SSHAgentMessage.signRequest(keyBlob: f.keyBlob, data: Array(repeating: 0x5a, count: 64), flags: 0).frame
            result = LoadRunner.run(workload: workload, clients: clients, duration: duration, makeClient: { _ in try AgentSocketClient(path: agent.socketPath) }) {
                $0.roundTrip(request) == SSHAgentMessage.MessageType.signResponse
            }
            (rowsPerRequest, actions) = (1, ["agent.sign"])
            if let reference = try openSSHAgentReference(fixture: f, client: c, clients: clients, duration: duration, request: request) {
                result.note = String(format: "%.1f× OpenSSH ssh-agent", result.perSecond / max(reference.perSecond, 1))
                let rows = try countRows(before: before, actions: actions)
                result.auditRows = rows
                result.auditRowsExpected = result.requests
                result.auditMatches = rows.map { $0 == result.requests }
                result.peakRSSKiB = peakRSSKiB
                return [result, reference]
            }
        }
        if rowsPerRequest > 0, let rows = try countRows(before: before, actions: actions) {
            result.auditRows = rows
            result.auditRowsExpected = result.requests * rowsPerRequest
            result.auditMatches = rows == result.requests * rowsPerRequest
        }
        result.peakRSSKiB = peakRSSKiB
        return [result]
    }

    private func countRows(before: Int64?, actions: [String]) throws -> Int? {
        if let shared, let before {
            let marks = actions.map { _ in "?" }.joined(separator: ",")
            return try shared.read { db in
                try Int64.fetchOne(
                    db, sql: "SELECT count(*) FROM audit WHERE seq > ? AND outcome = 'granted' AND action IN (\(marks))",
                    arguments: SQLArguments([.integer(before)] + actions.map { .text($0) }))
            }.map(Int.init)
        }
        guard let path = databasePath, let before else { return nil }
        return try AuditReader.grantedCount(databasePath: path, after: before, actions: actions)
    }

    /// OpenSSH's ssh-agent holding the same key (fetched through the session), driven by
    /// the same client code; nil when ssh-agent is not installed.
    private func openSSHAgentReference(fixture f: Fixture, client c: LatchkeyClient, clients: Int, duration: Double, request: [UInt8]) throws -> LoadResult? {
        guard let root, FileManager.default.isExecutableFile(atPath: "/usr/bin/ssh-agent") else { return nil }
        let key: ReleasedDeployKey = try c.call("GET", "/v1/session/deploy-key", bearer: f.sessionToken)
        try writeExclusive(path: root + "/id_bench", contents: Array(key.privateKey.utf8))
        let sock = root + "/ssh-agent.sock"
        guard let agentPID = spawnLogged(["/usr/bin/ssh-agent", "-D", "-a", sock], log: root + "/ssh-agent.log") else { return nil }
        helpers.append(agentPID)
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: sock) { usleep(10_000) }
        var env = ProcessInfo.processInfo.environment
        env["SSH_AUTH_SOCK"] = sock
        guard let add = spawnLogged(["/usr/bin/ssh-add", "-q", root + "/id_bench"], log: root + "/ssh-add.log", environment: env) else { return nil }
        var status: Int32 = 0
        waitpid(add, &status, 0)
        unlink(root + "/id_bench")
        return LoadRunner.run(workload: "agent-sign (OpenSSH ssh-agent)", clients: clients, duration: duration, makeClient: { _ in try AgentSocketClient(path: sock) }) {
            $0.roundTrip(request) == SSHAgentMessage.MessageType.signResponse
        }
    }
}

/// Starts a program with stdout and stderr appended to `log`.
func spawnLogged(_ argv: [String], log: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> pid_t? {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o600)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    let cArgs = argv.map { strdup($0) } + [nil]
    let cEnv = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { (cArgs + cEnv).forEach { free($0) } }
    var pid: pid_t = 0
    return posix_spawnp(&pid, argv[0], &actions, nil, cArgs, cEnv) == 0 ? pid : nil
}
