import ArgumentParser
import LatchkeyCrypto
import LatchkeyServer
import LatchkeyStore
import LatchkeyAudit
import LatchkeyPostgres
import Logging
import CSystemShims
@preconcurrency import Foundation

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the daemon in the foreground, logging to stderr.",
        discussion: """
            With no options it serves the embedded default: data in Keys/, policies in
            Policies/, socket Keys/latchkey.sock, and on first run it creates the store with
            a master key file Keys/master.key beside it (a development default, warned about
            on every start). SIGTERM / SIGINT stop it gracefully; SIGHUP reloads the policies.
            Under systemd it takes its listening socket from socket activation (LISTEN_FDS;
            --socket is then only a default) and reports READY=1 / STOPPING=1 to NOTIFY_SOCKET;
            see contrib/systemd. With --database (or LATCHKEY_DATABASE) it serves a fleet's
            store on PostgreSQL, made by `latchkey init --database`: it never migrates it, and
            the data directory then holds only this host's sockets.
            """)

    @Option(name: .long, help: "The data directory.")
    var dataDir = Defaults.dataDirectory

    @Option(name: .long, help: "The policy directory.")
    var policies = Defaults.policiesDirectory

    @Option(name: .long, help: "The socket to listen on (default: DATA_DIR/latchkey.sock).")
    var socket: String?

    @OptionGroup var key: KeyOptions

    @OptionGroup var database: DatabaseOptions

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel = "info"

    @Option(name: .long, help: "Log lines as text (default) or json (one object per line, stable field names).")
    var logFormat = "text"

    @Option(name: .long, help: "Event-loop threads (default: one per core).")
    var threads: Int?

    @Option(name: .long, help: "Most connections one peer uid may hold open on the socket (default: 256, of 4096 in all).")
    var maxConnectionsPerUid: Int?

    @Option(name: .long, help: "Most live sessions one runner uid may hold at once (default: 256; more are refused with session_limit).")
    var maxSessionsPerRunner: Int?

    @Option(name: .long, help: ArgumentHelp(
        "Also send each signed audit checkpoint to PATH (appended, synced) or to syslog.",
        discussion: "At start-up the store must hold the newest checkpoint of a witness file, or the daemon refuses to serve."))
    var checkpointWitness: String?

    @Option(name: .long, help: ArgumentHelp(
        "How often the daemon re-verifies each active token with its SCM server (default: 24h).",
        discussion: "A token is checked again once its last check is this old; results show in `token list`."))
    var tokenVerifyInterval = "24h"

    @Option(name: .long, help: ArgumentHelp(
        "The name this daemon's sessions carry in the store (default: the system's host name).",
        discussion: "Each daemon of a fleet needs its own: a daemon's start and stop end the open sessions of its name. Letters, digits, '.', '-', '_' and ':', at most 255."))
    var hostName: String?

    @Flag(name: .long, help: ArgumentHelp(
        "With --database: do not LISTEN for the fleet's change notifications.",
        discussion: "For a connection pooler that does not carry LISTEN/NOTIFY: the changes feed is then only polled (every 0.5 s)."))
    var noChangeNotifications = false

    func run() async throws {
        if let hostName, let problem = Self.problem(withHostName: hostName) { throw ValidationError("--host-name: \(problem)") }
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error")
        }
        guard ["text", "json"].contains(logFormat) else { throw ValidationError("--log-format must be text or json") }
        let json = logFormat == "json"
        LoggingSystem.bootstrap { label in
            if json {
                var h = JSONLogHandler(label: label)
                h.logLevel = level
                return h
            }
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        let logger = Logger(label: "latchkey")
        // Promise 5: no core dumps, no ptrace attach by other users.
        if latchkey_set_nondumpable() != 0 { logger.warning("could not disable core dumps / ptrace attach") }
        do {
            let source = try key.source(dataDirectory: dataDir)
            // A fleet's store: PostgreSQL, reached and checked (exactly this build's schema;
            // the daemon's role never migrates) before anything else; --data-dir is then
            // only this host's directory (the default socket, the agents' sockets).
            let shared = try database.url.map { url in
                try PostgresDatabase.openForDaemon(url: url, passwordFile: database.databasePasswordFile, listensForChanges: !noChangeNotifications)
            }
            if let shared { logger.info("store: \(shared.location)") }
            if key.isDefault {
                let keyPath = (dataDir as NSString).appendingPathComponent(Defaults.keyFileName)
                logger.warning("development default: the master key file \(keyPath) lies beside the store; use --key-file on another disk or --passphrase-stdin in production")
                let dbPath = (dataDir as NSString).appendingPathComponent(DataDirectory.databaseName)
                if shared == nil && !FileManager.default.fileExists(atPath: dbPath) {
                    _ = try initializeStore(dataDirectory: dataDir, source: source, limits: .moderate)
                    logger.notice("created a new store in \(dataDir) with key file \(keyPath)")
                }
            }
            var socketPath = socket ?? (dataDir as NSString).appendingPathComponent("latchkey.sock")
            // Socket activation: the service manager's listening socket, when it passed one.
            let passed = try ServiceManager.takePassedSockets()
            let listening = passed.first { $0.name == "latchkey" } ?? (passed.count == 1 ? passed.first : nil)
            if !passed.isEmpty && listening == nil {
                throw ValidationError("socket activation passed \(passed.count) sockets and none is named latchkey (FileDescriptorName=latchkey)")
            }
            if let listening, let path = listening.path {
                if let socket, socket != path { logger.warning("--socket \(socket) ignored: serving on the socket systemd passed, \(path)") }
                socketPath = path
            }
            var config = DaemonConfiguration(dataDirectory: dataDir, policiesDirectory: policies, socketPath: socketPath, keySource: source)
            config.threads = threads
            if let maxConnectionsPerUid {
                guard maxConnectionsPerUid >= 1 else { throw ValidationError("--max-connections-per-uid must be at least 1") }
                config.limits.maxConnectionsPerUID = maxConnectionsPerUid
            }
            if let maxSessionsPerRunner {
                guard maxSessionsPerRunner >= 1 else { throw ValidationError("--max-sessions-per-runner must be at least 1") }
                config.limits.maxSessionsPerRunner = maxSessionsPerRunner
            }
            let verifyEvery = try seconds(tokenVerifyInterval, option: "--token-verify-interval")
            guard verifyEvery >= 1 else { throw ValidationError("--token-verify-interval must be at least 1s") }
            config.limits.tokenVerificationInterval = .seconds(verifyEvery)
            config.checkpointWitness = checkpointWitness.map(CheckpointWitness.init(argument:))
            config.listeningDescriptor = listening?.descriptor
            config.database = shared
            config.hostName = hostName
            defer { shared?.close() }
            let daemon = try await Daemon.start(config, logger: logger)
            ServiceManager.notify("READY=1\nSTATUS=serving on \(socketPath)")
            for await signal in Signals.stream([SIGTERM, SIGINT, SIGHUP]) {
                if signal == SIGHUP {
                    ServiceManager.notify("RELOADING=1\nSTATUS=reloading the policies")
                    await daemon.vault.reloadPolicy()
                    ServiceManager.notify("READY=1\nSTATUS=serving on \(socketPath)")
                    continue
                }
                logger.info("signal \(signal): stopping")
                break
            }
            ServiceManager.notify("STOPPING=1\nSTATUS=stopping")
            await daemon.stop()
        } catch {
            throw fail(error)
        }
    }

    /// What is wrong with a `--host-name`, or nil.
    static func problem(withHostName name: String) -> String? {
        guard !name.isEmpty, name.utf8.count <= 255 else { return "give 1 to 255 characters" }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:")
        guard let bad = name.first(where: { !allowed.contains($0) }) else { return nil }
        return "\(bad.unicodeScalars.first.map { "U+" + String($0.value, radix: 16, uppercase: true) } ?? "?") is not allowed; use letters, digits, '.', '-', '_' and ':'"
    }
}

/// Delivers signals as an async stream (the default action is disabled for them).
enum Signals {
    static func stream(_ signals: [Int32]) -> AsyncStream<Int32> {
        AsyncStream { continuation in
            let queue = DispatchQueue(label: "latchkey.signals")
            var sources: [any DispatchSourceSignal] = []
            for s in signals {
                Glibc.signal(s, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: s, queue: queue)
                source.setEventHandler { continuation.yield(s) }
                source.resume()
                sources.append(source)
            }
            nonisolated(unsafe) let keep = sources
            continuation.onTermination = { _ in keep.forEach { $0.cancel() } }
        }
    }
}
