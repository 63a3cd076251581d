public import LatchkeyStore
public import Logging
import LatchkeyCrypto
import LatchkeyAPI
import Foundation

/// The daemon's state and rules: store, key ring, audit log, policy and sessions.
/// Routes call into it; nothing else touches the store.
public final class Vault: Sendable {
    public let store: Store
    public let keyRing: KeyRing
    let logger: Logger
    let policiesDirectory: String
    let startedAt = ContinuousClock.now
    let daemonUID: UInt32 = getuid()

    private init(store: Store, keyRing: KeyRing, policiesDirectory: String, logger: Logger) {
        self.store = store
        self.keyRing = keyRing
        self.policiesDirectory = policiesDirectory
        self.logger = logger
    }

    static func open(store: Store, keyRing: KeyRing, policiesDirectory: String, logger: Logger) async throws -> Vault {
        Vault(store: store, keyRing: keyRing, policiesDirectory: policiesDirectory, logger: logger)
    }

    func close() async {}

    /// Every route of the API.
    public func router() -> Router {
        var r = Router()
        r.add(.GET, "/v1/health") { [self] _ in .json(health()) }
        return r
    }

    func health() -> HealthResponse {
        HealthResponse(
            status: "ok", version: latchkeyVersion,
            uptimeSeconds: Double((ContinuousClock.now - startedAt).components.seconds),
            keyGeneration: keyRing.generation)
    }
}

extension Vault {
    /// SIGHUP: reload the policy directory; on error the previous policy stays.
    public func reloadPolicy() async {
        logger.info("policy reload requested")
    }
}
