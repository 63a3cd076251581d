import ArgumentParser
import LatchkeyCrypto
import LatchkeyServer
import LatchkeyStore
import LatchkeyAudit
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
            """)

    @Option(name: .long, help: "The data directory.")
    var dataDir = Defaults.dataDirectory

    @Option(name: .long, help: "The policy directory.")
    var policies = Defaults.policiesDirectory

    @Option(name: .long, help: "The socket to listen on (default: DATA_DIR/latchkey.sock).")
    var socket: String?

    @OptionGroup var key: KeyOptions

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel = "info"

    @Option(name: .long, help: "Event-loop threads (default: one per core).")
    var threads: Int?

    @Option(name: .long, help: ArgumentHelp(
        "Also send each signed audit checkpoint to PATH (appended, synced) or to syslog.",
        discussion: "At start-up the store must hold the newest checkpoint of a witness file, or the daemon refuses to serve."))
    var checkpointWitness: String?

    func run() async throws {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error")
        }
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        let logger = Logger(label: "latchkey")
        // Promise 5: no core dumps, no ptrace attach by other users.
        if latchkey_set_nondumpable() != 0 { logger.warning("could not disable core dumps / ptrace attach") }
        do {
            let source = try key.source(dataDirectory: dataDir)
            if key.isDefault {
                let keyPath = (dataDir as NSString).appendingPathComponent(Defaults.keyFileName)
                logger.warning("development default: the master key file \(keyPath) lies beside the store; use --key-file on another disk or --passphrase-stdin in production")
                let dbPath = (dataDir as NSString).appendingPathComponent(DataDirectory.databaseName)
                if !FileManager.default.fileExists(atPath: dbPath) {
                    _ = try initializeStore(dataDirectory: dataDir, source: source, limits: .moderate)
                    logger.notice("created a new store in \(dataDir) with key file \(keyPath)")
                }
            }
            var config = DaemonConfiguration(
                dataDirectory: dataDir, policiesDirectory: policies,
                socketPath: socket ?? (dataDir as NSString).appendingPathComponent("latchkey.sock"), keySource: source)
            config.threads = threads
            config.checkpointWitness = checkpointWitness.map(CheckpointWitness.init(argument:))
            let daemon = try await Daemon.start(config, logger: logger)
            for await signal in Signals.stream([SIGTERM, SIGINT, SIGHUP]) {
                if signal == SIGHUP {
                    await daemon.vault.reloadPolicy()
                    continue
                }
                logger.info("signal \(signal): stopping")
                break
            }
            await daemon.stop()
        } catch {
            throw fail(error)
        }
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
