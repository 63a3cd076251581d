import Foundation
internal import NIOCore
import LatchkeyAPI
import LatchkeyAudit
import LatchkeyCrypto
import LatchkeyPolicy
import LatchkeyStore
import LatchkeySSH
import GRDB

/// The hot path: a build redeems its session token for what was granted.
/// Checks, in order: token valid and live, peer allowed, grant present, uses left,
/// version active or in grace, not expired. Each refusal has its own code, in the
/// answer and the audit row. The granted row is durable before the secret is sent.
extension Vault {
    func addReleaseRoutes(_ r: inout Router) {
        r.add(.GET, "/v1/session/deploy-key", onLoop: { [self] req, loop in releaseOnLoop(req, grant: .deployKey, on: loop) }) { [self] req in
            let (_, s, version, secret) = try await redeem(req, grant: .deployKey, action: "secret.release")
            return Response(body: Self.releaseBody(.deployKey, s, version, secret))
        }
        r.add(.POST, "/v1/session/agent") { [self] req in try await openAgent(req) }
        r.add(.GET, "/v1/session/token", onLoop: { [self] req, loop in releaseOnLoop(req, grant: .token, on: loop) }) { [self] req in
            let (_, s, version, secret) = try await redeem(req, grant: .token, action: "secret.release")
            return Response(body: Self.releaseBody(.token, s, version, secret))
        }
    }

    /// What a release answers: the secret and its public facts.
    private static func releaseBody(_ grant: Grant, _ s: BuildSession, _ version: SecretVersion, _ secret: SecretBytes) -> ByteBuffer {
        switch grant {
        case .deployKey, .deployKeyAgent:  // an agent-only session never reaches a release (grant_missing)
            var json = SecretJSON(capacity: 4096 + secret.count)
            json.field("project", s.project)
            json.field("version", version.version)
            json.field("type", version.attributes["type"])
            json.field("fingerprint", version.attributes["fingerprint"])
            json.field("publicKey", version.attributes["public_key"])
            json.field("privateKey", secret: secret)
            return json.finish()
        case .token:
            var json = SecretJSON(capacity: 512 + secret.count)
            json.field("connection", s.connection)
            json.field("kind", version.kind.rawValue)
            json.field("version", version.version)
            json.field("username", version.attributes["username"])
            json.field("clientId", version.attributes["client_id"])
            json.field("token", secret: secret)
            return json.finish()
        }
    }

    /// The hot path, answered from the event loop with no task: a release that passes
    /// every check of `redeem` takes its use under the session table's lock, opens the
    /// secret, and its answer is sent once the audit writer has made the granted row
    /// durable. Anything else — a refusal, the session's last use, a key generation that
    /// changed — declines (nil) to `redeem`, which checks in order and records why.
    func releaseOnLoop(_ req: Request, grant: Grant, on loop: any EventLoop) -> EventLoopFuture<Response>? {
        guard let hash = sessionTokenHash(req) else { return nil }
        let peer = identity(req)
        let now = Timestamp.now()
        let generation = keyRing.generation
        guard let s = sessions.takeUse(tokenHash: hash, now: ContinuousClock.now, if: { s in
                guard s.rule.mayRedeem(peer), s.grants.contains(grant), s.uses + 1 < s.maxUses, let pin = Self.pin(grant, of: s) else { return false }
                return pin.sealed.generation == generation && pin.version.isUsable(at: now) && !Self.hasExpired(pin.version, at: now)
            }),
            let pin = Self.pin(grant, of: s)
        else { return nil }
        let secret: SecretBytes
        do {
            secret = try keyRing.open(pin.sealed, for: pin.version.binding)
        } catch {
            sessions.returnUse(id: s.id)
            return nil
        }
        let body = Self.releaseBody(grant, s, pin.version, secret)
        var op = operation(req, action: "secret.release", session: s, kind: pin.version.kind.rawValue)
        op.target.version = pin.version.version
        let promise = loop.makePromise(of: Response.self)
        audit.append(op.entry(.granted)) { [sessions, logger] result in
            switch result {
            case .success: promise.succeed(Response(body: body))
            case .failure(let e as AuditError):
                sessions.returnUse(id: s.id)
                promise.succeed(.error(.auditUnavailable(e)))
            case .failure(let e):
                sessions.returnUse(id: s.id)
                logger.error("release failed", metadata: ["request": "\(req.requestID)", "error": "\(e)"])
                promise.succeed(.error(.internalFault))
            }
        }
        return promise.futureResult
    }

    private static func pin(_ grant: Grant, of s: BuildSession) -> PinnedSecret? {
        grant == .token ? s.pinnedToken : s.pinnedKey
    }

    /// A token past its `expires` date is never released.
    private static func hasExpired(_ version: SecretVersion, at now: Timestamp) -> Bool {
        version.attributes["expires"].flatMap(Timestamp.init(parsing:)).map { now >= $0 } ?? false
    }

    /// A build's view of its session: the token from `Authorization: Bearer`, checked.
    func liveSession(_ req: Request, action: String, target: AuditTarget = AuditTarget()) async throws -> (Operation, BuildSession) {
        var op = Operation(
            vault: self, request: req, actor: .init(role: "build", uid: req.peer.uid, gid: req.peer.gid, pid: req.peer.pid),
            action: action, target: target)
        guard let hash = sessionTokenHash(req) else {
            throw try await op.refuse(.unauthorized("no_session", "present the session token as `Authorization: Bearer lks_…` (LATCHKEY_SESSION)"))
        }
        guard let s = sessions.session(tokenHash: hash) else {
            throw try await op.refuse(.unauthorized("invalid_session", "the session token is not valid or its session has ended"))
        }
        op = operation(req, action: action, session: s, kind: target.kind)
        if ContinuousClock.now >= s.deadline {
            let id = s.id
            _ = await endSessions(.expired, requestID: req.requestID) { $0.id == id }
            throw try await op.refuse(.unauthorized("session_expired", "the session expired at \(s.expiresAt)"))
        }
        guard s.rule.mayRedeem(identity(req)) else {
            throw try await op.refuse(.forbidden("peer_not_allowed", "uid \(req.peer.uid) may not redeem sessions of runner rule '\(s.rule.name)'"))
        }
        return (op, s)
    }

    /// The keyed hash of a well-formed bearer session token, or nil.
    private func sessionTokenHash(_ req: Request) -> [UInt8]? {
        guard var bearer = req.bearerToken.map({ Array($0.utf8) }), bearer.count == Self.sessionTokenPrefix.utf8.count + 43,
            bearer.starts(with: Self.sessionTokenPrefix.utf8), let token = try? SecretBytes(consuming: &bearer)
        else { return nil }
        return keyRing.keyedHash(token, purpose: "session-token")
    }

    private func operation(_ req: Request, action: String, session s: BuildSession, kind: String?) -> Operation {
        Operation(
            vault: self, request: req,
            actor: .init(role: "build", uid: req.peer.uid, gid: req.peer.gid, pid: req.peer.pid, sessionID: s.id), action: action,
            target: AuditTarget(connection: s.connection, project: s.project, kind: kind))
    }

    func redeem(_ req: Request, grant: Grant, action: String) async throws -> (Operation, BuildSession, SecretVersion, SecretBytes) {
        var (op, s) = try await liveSession(req, action: action, target: AuditTarget(kind: grant.rawValue))
        guard s.grants.contains(grant) else {
            throw try await op.refuse(.forbidden("grant_missing", "this session was not granted \(grant.rawValue)"))
        }
        let kind: SecretKind
        let pinned: Int64?
        switch grant {
        case .deployKey, .deployKeyAgent: (kind, pinned) = (.deployKey, s.deployKeyVersion)
        case .token: (kind, pinned) = (s.tokenKind ?? .token, s.tokenVersion)
        }
        op.target = AuditTarget(connection: s.connection, project: s.project, kind: kind.rawValue, version: pinned)
        switch sessions.takeUse(id: s.id, now: ContinuousClock.now) {
        case .success(let used): s = used
        case .failure(.usedUp): throw try await op.refuse(.unauthorized("session_used_up", "the session has used all \(s.maxUses) of its uses"))
        case .failure(.expired):
            let id = s.id
            _ = await endSessions(.expired, requestID: req.requestID) { $0.id == id }
            throw try await op.refuse(.unauthorized("session_expired", "the session expired at \(s.expiresAt)"))
        case .failure: throw try await op.refuse(.unauthorized("invalid_session", "the session has ended"))
        }
        let session = s
        do {
            guard let pinned, let pin = Self.pin(grant, of: session) else {
                throw APIError.forbidden("grant_missing", "this session carries no \(grant.rawValue) version")
            }
            let version = pin.version
            let now = Timestamp.now()
            guard version.isUsable(at: now) else {
                throw APIError.forbidden("secret_revoked", "\(kind.rawValue) v\(pinned) of \(session.project) has been revoked or its grace has ended")
            }
            if Self.hasExpired(version, at: now) {
                throw APIError.forbidden("token_expired", "the token expired on \(version.attributes["expires"]!); it is never released")
            }
            let secret = try openSealed(pin.sealed, for: version)
            try await op.record(.granted)  // durable before a byte of the secret leaves
            if session.uses >= session.maxUses {
                _ = await endSessions(.usedUp, requestID: req.requestID) { $0.id == session.id }
            }
            return (op, s, version, secret)
        } catch let e as APIError {
            sessions.returnUse(id: s.id)
            if e.code == "audit_unavailable" { throw e }
            throw try await op.refuse(e)
        } catch {
            sessions.returnUse(id: s.id)
            logger.error("release failed", metadata: ["request": "\(req.requestID)", "error": "\(error)"])
            try? await op.record(.failed, reason: "internal")
            throw APIError.internalFault
        }
    }

    /// The session's ssh-agent: made on first request (idempotent after), lives until
    /// the session ends. It takes no use; the session's TTL bounds it.
    func openAgent(_ req: Request) async throws -> Response {
        var (op, s) = try await liveSession(req, action: "agent.open", target: AuditTarget(kind: Grant.deployKey.rawValue))
        guard s.grants.allowsAgent, let pinned = s.deployKeyVersion else {
            throw try await op.refuse(.forbidden("grant_missing", "this session was not granted deploy-key or deploy-key-agent"))
        }
        op.target = AuditTarget(connection: s.connection, project: s.project, kind: SecretKind.deployKey.rawValue, version: pinned)
        if let existing = agents.agent(for: s.id) {
            // Bound to the uid that opened it: another uid holding the token gets nothing.
            guard existing.boundUID == req.peer.uid else {
                throw try await op.refuse(.forbidden("agent_not_yours", "this session's agent was opened by another uid; it serves only that uid"))
            }
            try await op.record(.granted)
            return .json(SessionAgentInfo(socketPath: existing.socketPath, fingerprint: existing.fingerprint, expiresAt: s.expiresAt.description))
        }
        let owner = Project.owner(s.project)
        let (version, sealed) = try await store.database.read { db in
            (try SecretVersions.find(kind: .deployKey, owner: owner, version: pinned, in: db),
             try SecretVersions.sealed(kind: .deployKey, owner: owner, version: pinned, in: db))
        }
        guard version.isUsable(at: .now()), let sealed else {
            throw try await op.refuse(.forbidden("secret_revoked", "deploy-key v\(pinned) of \(s.project) has been revoked or its grace has ended"))
        }
        let key = try DeployKey(openSSHPrivateKey: try openSealed(sealed, for: version))
        let agent = try SessionAgent(
            context: .init(
                vault: self, sessionID: s.id, key: key, version: pinned, comment: "latchkey:\(s.project):v\(pinned)", boundUID: req.peer.uid,
                boundGID: req.peer.gid, target: op.target, connections: agents.perUID, requestTimeout: agents.requestTimeout),
            under: agentParent)
        do {
            try await op.record(.granted)
        } catch {
            agent.stop()
            throw error
        }
        // Two first requests at once: the first agent in the table is the session's.
        let winner = agents.add(agent)
        if winner !== agent {
            agent.stop()
            guard winner.boundUID == req.peer.uid else {
                throw APIError.forbidden("agent_not_yours", "this session's agent was opened by another uid; it serves only that uid")
            }
            return .json(SessionAgentInfo(socketPath: winner.socketPath, fingerprint: winner.fingerprint, expiresAt: s.expiresAt.description))
        }
        // A session that ended meanwhile takes its agent with it.
        if sessions.session(id: s.id) == nil { agents.stop(s.id) }
        return .json(SessionAgentInfo(socketPath: agent.socketPath, fingerprint: agent.fingerprint, expiresAt: s.expiresAt.description), status: .created)
    }

    /// Opens with the active KEK; a master-key rotation that committed between the read
    /// and the open is handled by reading again.
    func openSealed(_ sealed: SealedSecret, for version: SecretVersion) throws -> SecretBytes {
        if sealed.generation == keyRing.generation { return try keyRing.open(sealed, for: version.binding) }
        let fresh = try store.database.read { db in
            try SecretVersions.sealed(kind: version.kind, owner: version.owner, version: version.version, in: db)
        }
        guard let fresh else { throw APIError.forbidden("secret_revoked", "the secret was revoked") }
        return try keyRing.open(fresh, for: version.binding)
    }
}
