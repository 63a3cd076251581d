package import LatchkeyStore
package import Logging
package import LatchkeyAudit
package import LatchkeyCrypto
package import LatchkeyPolicy
package import LatchkeyAPI
package import LatchkeySCM
import Foundation
import Synchronization

/// The daemon's state and rules: store, key ring, audit log, policy and sessions.
/// Handlers call into it; nothing else touches the store.
package final class Vault: Sendable {
    package let store: Store
    package let keyRing: KeyRing
    package let audit: AuditLog
    /// Counters and histograms for `GET /v1/metrics`.
    package let metrics: Metrics
    package let sessions = SessionTable()
    package let agents: SessionAgents
    /// Bounds the audit rows of refusals per uid and second.
    package let refusals: RefusalLimiter
    /// The caps the daemon keeps on sessions and agents.
    package let limits: VaultLimits
    /// Starts a session's ssh-agent socket (the adapter's, so the core opens no socket).
    let agentFactory: any SessionAgentFactory
    /// Makes the transport to a connection's SCM server (the adapter's, so the core
    /// opens no socket: the daemon passes LatchkeySCMTransport's `SCMClientFactory`).
    let scmTransports: any SCMTransportFactory
    /// Where session agent sockets are made: beside the daemon's socket, so builds that
    /// can reach one can reach the other.
    let agentParent: String
    package let logger: Logger
    let policiesDirectory: String
    let startedAt = ContinuousClock.now
    let daemonUID: UInt32 = getuid()
    /// The name of the host this daemon serves, written on its sessions: on a fleet's
    /// shared store its start and stop end only the sessions of this name.
    package let hostName: String
    private let policyHolder: Mutex<Policy>
    let housekeeper = Mutex<Task<Void, Never>?>(nil)
    let refusalFlusher = Mutex<Task<Void, Never>?>(nil)
    /// The SCM work housekeeping starts (reconciliation, pending deploy-key removals):
    /// at most one at a time, apart from the housekeeping loop so that a slow server
    /// never holds up session expiry.
    let scmWork = Mutex<(running: Bool, task: Task<Void, Never>?)>((false, nil))
    /// The `repo-token` grant's minted tokens of live sessions (see `Vault+RepoTokens`).
    package let mintedTokens = MintedTokenCache()
    /// The tasks following a shared store's `changes` feed (FleetChanges.swift).
    let changesFollower = Mutex<(follower: Task<Void, Never>, listener: Task<Void, Never>?)?>(nil)
    /// GitHub App installations found per (connection, key version, repository).
    let installations = Mutex<[String: String]>([:])

    package var policy: Policy { policyHolder.withLock { $0 } }

    private init(
        store: Store, keyRing: KeyRing, audit: AuditLog, metrics: Metrics, policy: Policy, policiesDirectory: String, agentParent: String,
        agentFactory: any SessionAgentFactory, scmTransports: any SCMTransportFactory, limits: VaultLimits, hostName: String, logger: Logger
    ) {
        self.hostName = hostName
        self.metrics = metrics
        self.limits = limits
        agents = SessionAgents(connectionsPerUID: limits.maxAgentConnectionsPerUID)
        refusals = RefusalLimiter(rowsPerSecond: limits.refusalRowsPerSecond)
        self.agentParent = agentParent
        self.agentFactory = agentFactory
        self.scmTransports = scmTransports
        self.store = store
        self.keyRing = keyRing
        self.audit = audit
        self.policyHolder = Mutex(policy)
        self.policiesDirectory = policiesDirectory
        self.logger = logger
    }

    /// Opens the audit log, loads the policy (a broken policy refuses start-up), ends the
    /// sessions a previous run left open, and records the start.
    package static func open(
        store: Store, keyRing: KeyRing, policiesDirectory: String, witness: CheckpointWitness? = nil, agentParent: String,
        agentFactory: any SessionAgentFactory, scmTransports: any SCMTransportFactory, limits: VaultLimits = VaultLimits(),
        hostName: String = Vault.systemHostName(), logger: Logger
    ) async throws -> Vault {
        let log = logger
        let metrics = Metrics()
        // A fleet's rows say which host wrote them; a single host's, as ever, name none.
        let audit = try AuditLog(
            store: store, signingKey: keyRing.auditSigning, witness: witness, observer: metrics, host: store.engine == .sqlite ? nil : hostName
        ) { line in log.notice("\(line)") }
        let policy: Policy
        do {
            policy = try Policy.load(directory: policiesDirectory, daemonUID: getuid())
        } catch {
            _ = try? await audit.append(AuditEntry(actor: .init(role: .daemon), action: .policyLoad, outcome: .failed, reason: error.code))
            await audit.close()
            throw error
        }
        let vault = Vault(
            store: store, keyRing: keyRing, audit: audit, metrics: metrics, policy: policy, policiesDirectory: policiesDirectory,
            agentParent: agentParent, agentFactory: agentFactory, scmTransports: scmTransports, limits: limits, hostName: hostName, logger: logger)
        let ended = try await audit.append(
            AuditEntry(actor: .init(role: .daemon, uid: vault.daemonUID, pid: getpid()), action: .daemonStart, outcome: .granted)
        ) { db in
            // The tokens minted for those sessions are revoked by the SCM work housekeeping starts.
            try MintedTokens.queueRevocation(sessionsOfHost: hostName, in: db)
            return try BuildSessionRecord.endAllOpen(host: hostName, reason: SessionEnd.daemonRestart.rawValue, in: db)
        }
        if ended > 0 { logger.notice("ended \(ended) session(s) left open by the previous run") }
        _ = try await audit.append(
            AuditEntry(actor: .init(role: .daemon), action: .policyLoad, outcome: .granted, reason: nil))
        try await vault.startFollowingChanges(wakeups: store.database.changeNotifications())
        vault.startHousekeeping()
        return vault
    }

    /// The system's host name (`gethostname`), the default `hostName`.
    package static func systemHostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(cString: buffer)
        return name.isEmpty ? "localhost" : name
    }

    package func close() async {
        stopFollowingChanges()
        housekeeper.withLock { $0?.cancel() }
        refusalFlusher.withLock { $0?.cancel() }
        scmWork.withLock { $0.task?.cancel() }
        agents.stopAll()
        let open = sessions.removeAll { _ in true }
        mintedTokens.removeAll()
        let host = hostName
        let queued = (try? await audit.append(
            AuditEntry(actor: .init(role: .daemon, uid: daemonUID, pid: getpid()), action: .daemonStop, outcome: .granted)
        ) { db in
            let queued = try MintedTokens.queueRevocation(sessionsOfHost: host, in: db)
            _ = try BuildSessionRecord.endAllOpen(host: host, reason: SessionEnd.daemonRestart.rawValue, in: db)
            return queued
        }) ?? 0
        if !open.isEmpty { logger.info("ended \(open.count) live session(s) at stop") }
        if queued > 0 { await revokeBeforeStop() }
        await flushRefusalSummaries(force: true)
        await audit.close()
    }

    /// Every endpoint of the API, behind the router's steps.
    package func router() -> Router { Router(vault: self) }

    func health() -> HealthResponse {
        HealthResponse(
            status: "ok", version: latchkeyVersion,
            uptimeSeconds: Double((ContinuousClock.now - startedAt).components.seconds),
            keyGeneration: keyRing.generation)
    }

    /// Whether the policy gives the peer `role`. Builds are any peer here; a build is
    /// checked against its session's rule when it redeems.
    func holds(_ role: Role, _ peer: PeerIdentity, in p: Policy) -> Bool {
        switch role {
        case .admin: p.isAdmin(peer)
        case .auditor: p.isAuditor(peer)
        case .runner: p.isRunner(peer)
        case .webhookReceiver: p.isWebhookReceiver(peer)
        case .build: true
        case .daemon, .anonymous: false
        }
    }

    /// The operation of a request, its actor in the first of `roles` the peer holds, or
    /// `anonymous` when it holds none (the router then refuses it).
    /// `exempt`: the role the peer holds whatever the policy says (the uid that opened a
    /// session may always close it as its runner).
    func authorizeOperation(_ req: Request, roles: [Role], action: AuditAction, target: AuditTarget, exempt: Role? = nil) -> Operation {
        let peer = identity(req)
        let p = policy
        let role = exempt ?? roles.first { holds($0, peer, in: p) } ?? .anonymous
        let actor = AuditEntry.Actor(role: role, uid: req.peer.uid, gid: req.peer.gid, pid: req.peer.pid)
        return Operation(vault: self, request: req, actor: actor, action: action, target: target)
    }

    /// The refusal of a peer that holds none of `roles`.
    func notInRole(_ req: Request, _ roles: [Role]) -> APIError {
        let code: RefusalCode =
            switch roles.first {
            case .runner: .notRunner
            case .auditor: .notAuditor
            case .webhookReceiver: .notWebhookReceiver
            default: .notAdmin
            }
        let names = roles.map(\.rawValue).joined(separator: " or ")
        return APIError(code, "uid \(req.peer.uid) is not \(names.first.map { "aeiou".contains($0) } == true ? "an" : "a") \(names) in the policy; ask an admin to name it in \(policiesDirectory)/")
    }

    /// Ends the live sessions matching `predicate`, recording each end.
    package func endSessions(_ reason: SessionEnd, requestID: String?, where predicate: @escaping @Sendable (BuildSession) -> Bool) async -> Int {
        let ended = sessions.removeAll(where: predicate)
        for s in ended {
            agents.stop(s.id)
            mintedTokens.remove(s.id)
            metrics.sessionEnded(reason)
            let entry = AuditEntry(
                actor: .init(role: .daemon, sessionID: s.id), action: .sessionEnd,
                target: .init(connection: s.connection, project: s.project), outcome: .granted, reason: reason.rawValue, requestID: requestID)
            do {
                let minted = s.grants.contains(.repoToken)
                _ = try await audit.append(entry) { db in
                    if minted { try MintedTokens.queueRevocation(sessionIDs: [s.id], in: db) }
                    try BuildSessionRecord.end(id: s.id, reason: reason.rawValue, in: db)
                }
            } catch {
                logger.error("could not record the end of session \(s.id): \(error)")
            }
        }
        if ended.contains(where: { $0.grants.contains(.repoToken) }) { startSCMWork { await $0.workDueMintedRevocations() } }
        return ended.count
    }

    /// SIGHUP: reload the policy directory; on error the previous policy stays, and the
    /// failed reload is audited.
    package func reloadPolicy() async {
        let actor = AuditEntry.Actor(role: .daemon, uid: daemonUID, pid: getpid())
        do {
            let fresh = try Policy.load(directory: policiesDirectory, daemonUID: daemonUID)
            policyHolder.withLock { $0 = fresh }
            logger.notice("policy reloaded", metadata: ["files": "\(fresh.files.count)"])
            _ = try? await audit.append(AuditEntry(actor: actor, action: .policyReload, outcome: .granted))
            let ended = await recheckSessions(under: fresh)
            if ended > 0 { logger.notice("policy reload ended \(ended) live session(s) it no longer allows") }
        } catch {
            logger.error("policy reload failed; the previous policy stays in force: \(error)")
            _ = try? await audit.append(AuditEntry(actor: actor, action: .policyReload, outcome: .failed, reason: error.code))
        }
    }
}

/// The caps the core keeps (the adapter's `ServerLimits` carries them from `serve`).
package struct VaultLimits: Sendable {
    /// Most live sessions one runner uid may hold at once (`session_limit`).
    package var maxSessionsPerRunner = 256
    /// Most connections one uid may have open to session agents, all agents together.
    package var maxAgentConnectionsPerUID = 64
    /// An agent connection that sends no whole request for this long is closed.
    package var agentRequestTimeout: Duration = .seconds(30)
    /// Refusals of one uid per second that get an audit row of their own.
    package var refusalRowsPerSecond = RefusalLimiter.defaultRowsPerSecond
    /// How old a token's last check with its server may get before the daemon checks it
    /// again (`serve --token-verify-interval`; a day by default).
    package var tokenVerificationInterval: Duration = .seconds(86_400)

    package init() {}
}
