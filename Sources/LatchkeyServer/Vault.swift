public import LatchkeyStore
public import Logging
import LatchkeyAudit
import LatchkeyCrypto
import LatchkeyPolicy
import LatchkeyAPI
import Foundation
internal import NIOCore
import Synchronization

/// The daemon's state and rules: store, key ring, audit log, policy and sessions.
/// Routes call into it; nothing else touches the store.
public final class Vault: Sendable {
    public let store: Store
    public let keyRing: KeyRing
    let audit: AuditLog
    let sessions = SessionTable()
    let agents: SessionAgents
    /// Bounds the audit rows of refusals per uid and second.
    let refusals: RefusalLimiter
    /// Most live sessions one runner uid may hold.
    let maxSessionsPerRunner: Int
    /// Where session agent sockets are made: beside the daemon's socket, so builds that
    /// can reach one can reach the other.
    let agentParent: String
    let logger: Logger
    let policiesDirectory: String
    let startedAt = ContinuousClock.now
    let daemonUID: UInt32 = getuid()
    private let policyHolder: Mutex<Policy>
    let housekeeper = Mutex<Task<Void, Never>?>(nil)
    let refusalFlusher = Mutex<Task<Void, Never>?>(nil)

    var policy: Policy { policyHolder.withLock { $0 } }

    private init(
        store: Store, keyRing: KeyRing, audit: AuditLog, policy: Policy, policiesDirectory: String, agentParent: String, limits: ServerLimits,
        logger: Logger
    ) {
        agents = SessionAgents(connectionsPerUID: limits.maxAgentConnectionsPerUID, requestTimeout: limits.agentRequestTimeout)
        refusals = RefusalLimiter(rowsPerSecond: limits.refusalRowsPerSecond)
        maxSessionsPerRunner = limits.maxSessionsPerRunner
        self.agentParent = agentParent
        self.store = store
        self.keyRing = keyRing
        self.audit = audit
        self.policyHolder = Mutex(policy)
        self.policiesDirectory = policiesDirectory
        self.logger = logger
    }

    /// Opens the audit log, loads the policy (a broken policy refuses start-up), ends the
    /// sessions a previous run left open, and records the start.
    static func open(
        store: Store, keyRing: KeyRing, policiesDirectory: String, agentParent: String, limits: ServerLimits = ServerLimits(), logger: Logger
    ) async throws -> Vault {
        let log = logger
        let audit = try AuditLog(store: store, signingKey: keyRing.auditSigning) { line in log.notice("\(line)") }
        let policy: Policy
        do {
            policy = try Policy.load(directory: policiesDirectory, daemonUID: getuid())
        } catch {
            _ = try? await audit.append(AuditEntry(actor: .init(role: "daemon"), action: "policy.load", outcome: .failed, reason: error.code))
            await audit.close()
            throw error
        }
        let vault = Vault(
            store: store, keyRing: keyRing, audit: audit, policy: policy, policiesDirectory: policiesDirectory, agentParent: agentParent,
            limits: limits, logger: logger)
        let ended = try await audit.append(
            AuditEntry(actor: .init(role: "daemon", uid: vault.daemonUID, pid: getpid()), action: "daemon.start", outcome: .granted)
        ) { db in try BuildSessionRecord.endAllOpen(reason: SessionEnd.daemonRestart.rawValue, in: db) }
        if ended > 0 { logger.notice("ended \(ended) session(s) left open by the previous run") }
        _ = try await audit.append(
            AuditEntry(actor: .init(role: "daemon"), action: "policy.load", outcome: .granted, reason: nil))
        vault.startHousekeeping()
        return vault
    }

    func close() async {
        housekeeper.withLock { $0?.cancel() }
        refusalFlusher.withLock { $0?.cancel() }
        agents.stopAll()
        let open = sessions.removeAll { _ in true }
        _ = try? await audit.append(
            AuditEntry(actor: .init(role: "daemon", uid: daemonUID, pid: getpid()), action: "daemon.stop", outcome: .granted)
        ) { db in
            try BuildSessionRecord.endAllOpen(reason: SessionEnd.daemonRestart.rawValue, in: db)
        }
        if !open.isEmpty { logger.info("ended \(open.count) live session(s) at stop") }
        await flushRefusalSummaries(force: true)
        await audit.close()
    }

    /// Every route of the API.
    public func router() -> Router {
        var r = Router()
        // Health answers on the event loop, like a release: the floor the benchmark
        // compares releases with is the same path minus the crypto and the audit row.
        r.add(.GET, "/v1/health", onLoop: { [self] _, loop in loop.makeSucceededFuture(.json(health())) }) { [self] _ in .json(health()) }
        addConnectionRoutes(&r)
        addProjectRoutes(&r)
        addDeployKeyRoutes(&r)
        addTokenRoutes(&r)
        addMasterKeyRoutes(&r)
        addSessionRoutes(&r)
        addReleaseRoutes(&r)
        addAuditRoutes(&r)
        return r
    }

    func health() -> HealthResponse {
        HealthResponse(
            status: "ok", version: latchkeyVersion,
            uptimeSeconds: Double((ContinuousClock.now - startedAt).components.seconds),
            keyGeneration: keyRing.generation)
    }

    /// Checks the peer against the policy for `role`. A refusal is recorded (denied,
    /// with the reason code) before it is answered.
    /// `orIf`: allowed in this role whatever the policy says (the uid that opened a
    /// session may always close it).
    func authorize(_ req: Request, as role: Role, action: String, target: AuditTarget, orIf exempt: Bool = false) async throws -> Operation {
        let peer = PeerIdentity(uid: req.peer.uid, gid: req.peer.gid, pid: req.peer.pid)
        let p = policy
        var allowed: Bool
        switch role {
        case .admin: allowed = p.isAdmin(peer)
        case .auditor: allowed = p.isAuditor(peer)
        case .runner: allowed = p.isRunner(peer)
        case .build: allowed = true  // builds are checked against their session's rule
        }
        allowed = allowed || exempt
        let actor = AuditEntry.Actor(role: allowed ? role.rawValue : "anonymous", uid: req.peer.uid, gid: req.peer.gid, pid: req.peer.pid)
        let op = Operation(vault: self, request: req, actor: actor, action: action, target: target)
        // Admin and runner actions: the connector must still be who it was at connect.
        if allowed, role == .admin || role == .runner, !req.peer.connectorIsUnchanged {
            throw try await op.refuse(.forbidden(
                "peer_changed", "the process that opened this connection (pid \(req.peer.pid)) has exited or changed its uid; connect again"))
        }
        guard allowed else {
            throw try await op.refuse(.forbidden(
                "not_\(role.rawValue)", "uid \(req.peer.uid) is not an \(role.rawValue) in the policy; ask an admin to name it in \(policiesDirectory)/"))
        }
        return op
    }

    /// Ends the live sessions matching `predicate`, recording each end.
    func endSessions(_ reason: SessionEnd, requestID: String?, where predicate: @escaping @Sendable (BuildSession) -> Bool) async -> Int {
        let ended = sessions.removeAll(where: predicate)
        for s in ended {
            agents.stop(s.id)
            let entry = AuditEntry(
                actor: .init(role: "daemon", sessionID: s.id), action: "session.end",
                target: .init(connection: s.connection, project: s.project), outcome: .granted, reason: reason.rawValue, requestID: requestID)
            do {
                _ = try await audit.append(entry) { db in try BuildSessionRecord.end(id: s.id, reason: reason.rawValue, in: db) }
            } catch {
                logger.error("could not record the end of session \(s.id): \(error)")
            }
        }
        return ended.count
    }

    /// SIGHUP: reload the policy directory; on error the previous policy stays, and the
    /// failed reload is audited.
    public func reloadPolicy() async {
        let actor = AuditEntry.Actor(role: "daemon", uid: daemonUID, pid: getpid())
        do {
            let fresh = try Policy.load(directory: policiesDirectory, daemonUID: daemonUID)
            policyHolder.withLock { $0 = fresh }
            logger.notice("policy reloaded", metadata: ["files": "\(fresh.files.count)"])
            _ = try? await audit.append(AuditEntry(actor: actor, action: "policy.reload", outcome: .granted))
            let ended = await recheckSessions(under: fresh)
            if ended > 0 { logger.notice("policy reload ended \(ended) live session(s) it no longer allows") }
        } catch {
            logger.error("policy reload failed; the previous policy stays in force: \(error)")
            _ = try? await audit.append(AuditEntry(actor: actor, action: "policy.reload", outcome: .failed, reason: error.code))
        }
    }
}
