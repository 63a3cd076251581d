package import Logging
package import LatchkeyStore
import LatchkeyCrypto
import LatchkeyAudit
import LatchkeySCMTransport
package import LatchkeyCore
import Foundation

/// A running daemon: the unlocked store, the vault and the listening socket.
package final class Daemon: Sendable {
    package let vault: Vault
    private let server: SocketServer
    private let logger: Logger

    private init(vault: Vault, server: SocketServer, logger: Logger) {
        self.vault = vault
        self.server = server
        self.logger = logger
    }

    /// Opens and unlocks the store, then serves. The store must exist (`latchkey init`).
    /// Nothing is written before the master key has been checked.
    package static func start(_ config: DaemonConfiguration, logger: Logger) async throws -> Daemon {
        let store: Store
        if let database = config.database {
            try DataDirectory.prepare(config.dataDirectory, create: true)
            store = Store(directory: config.dataDirectory, database: database)
        } else {
            store = try Store(directory: config.dataDirectory, create: false)
        }
        guard store.isInitialized else {
            if config.database == nil { throw StoreError.notInitialized(path: config.dataDirectory) }
            throw StoreError.unavailable(reason: "the database holds no key ring yet; run `latchkey init --database …` as the owner role first")
        }
        let root = try KeyRing.rootKey(for: config.keySource, store: store)
        // The audit log is verified before anything is written or signed: a store whose
        // history was rewritten, truncated or re-chained is refused here.
        let ring = try KeyRing.unlock(store: store, root: root) { store, auditPublicKey in
            try AuditLog.verifyAtStartup(store: store, publicKey: auditPublicKey, witness: config.checkpointWitness)
        }
        let vault = try await Vault.open(
            store: store, keyRing: ring, policiesDirectory: config.policiesDirectory, witness: config.checkpointWitness,
            agentParent: (config.socketPath as NSString).deletingLastPathComponent.isEmpty ? "." : (config.socketPath as NSString).deletingLastPathComponent,
            agentFactory: NIOSessionAgentFactory(), scmTransports: SCMClientFactory(), limits: config.limits.vault,
            hostName: config.hostName ?? Vault.systemHostName(), logger: logger)
        let server: SocketServer
        do {
            server = try SocketServer(
                path: config.socketPath, router: vault.router(), limits: config.limits, logger: logger, threads: config.threads,
                inherited: config.listeningDescriptor)
        } catch {
            await vault.close()
            throw error
        }
        logger.info(
            "serving",
            metadata: [
                "socket": "\(config.socketPath)", "generation": "\(ring.generation)",
                "activation": "\(config.listeningDescriptor == nil ? "own" : "socket-activated")",
            ])
        return Daemon(vault: vault, server: server, logger: logger)
    }

    /// Graceful stop: no new connections, then the audit log's final checkpoint.
    package func stop() async {
        await server.shutdown()
        await vault.close()
        logger.info("stopped")
    }
}
