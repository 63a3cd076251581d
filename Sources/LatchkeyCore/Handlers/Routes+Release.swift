import Foundation
package import NIOCore
package import LatchkeyAPI
package import LatchkeyAudit
package import LatchkeyCrypto
package import LatchkeyPolicy
package import LatchkeyStore
package import LatchkeySSH

/// The hot path: a build redeems its session token for what was granted. Both paths
/// take the use and decide under the session table's lock with `ReleaseDecision.decide`;
/// each refusal has its own code, in the answer and the audit row. The granted row is
/// durable before the secret is sent.
extension Vault {
    /// What a release answers: the secret and its public facts.
    private static func releaseBody(_ grant: Grant, _ s: ReleaseSubject, _ version: SecretVersion, _ secret: SecretBytes) -> ByteBuffer {
        switch grant {
        // deploy-key-agent never gets here (grant_missing); ssh-cert has no pinned version
        // and never comes here either (`certificateBody`).
        case .deployKey, .deployKeyAgent, .sshCert, .repoToken:
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

    /// The facts a release is decided on, but its session.
    private func releaseFacts(_ req: Request, grant: Grant, tokenPresented: Bool) -> ReleaseDecision.Facts {
        ReleaseDecision.Facts(
            tokenPresented: tokenPresented, grant: grant, peer: identity(req), now: .now(), clock: .now, keyGeneration: keyRing.generation)
    }

    /// What a decided release needs of its session: copied out in the decision's critical
    /// section, where the whole session is not (the fast path needs no more).
    struct ReleaseSubject: Sendable {
        let id: String
        let project: String
        let connection: String
        /// The grant's pinned version (nil for `ssh-cert` and `repo-token`).
        let pin: PinnedSecret?
        let certificateVersion: Int64?
    }

    /// A decided redeem: the decision, its facts, what it releases and — for the checked
    /// path — the whole session, after the use if one was taken.
    private struct DecidedRelease: Sendable {
        var decision: ReleaseDecision
        var facts: ReleaseDecision.Facts
        var subject: ReleaseSubject?
        var session: BuildSession?
    }

    /// Decides a redeem and takes its use in one critical section. With `fastOnly`, a use
    /// is taken only for a release the event loop can finish by itself, and the session
    /// itself is not copied out.
    private func decideRelease(_ req: Request, grant: Grant, fastOnly: Bool) -> DecidedRelease {
        guard let hash = sessionTokenHash(req) else {
            let facts = releaseFacts(req, grant: grant, tokenPresented: false)
            return DecidedRelease(decision: ReleaseDecision.decide(nil, facts), facts: facts)
        }
        let base = releaseFacts(req, grant: grant, tokenPresented: true)
        return sessions.redeem(tokenHash: hash) { s, gone in
            var facts = base
            facts.gone = gone
            let d = ReleaseDecision.decide(s, facts)
            let take: Bool = if case .release = d { !fastOnly || d.isFast } else { false }
            var decided = DecidedRelease(decision: d, facts: facts, subject: s?.releaseSubject(grant))
            if !fastOnly, var whole = s {
                if take { whole.uses += 1 }
                decided.session = whole
            }
            return (decided, take)
        }
    }

    /// What a release's row names: the session's connection and project, the pinned
    /// secret's kind and version (the grant's name when nothing is pinned).
    private static func releaseTarget(_ s: ReleaseSubject?, grant: Grant) -> AuditTarget {
        guard let s else { return AuditTarget(kind: grant.rawValue) }
        if grant == .sshCert {
            return AuditTarget(connection: s.connection, project: s.project, kind: grant.rawValue, version: s.certificateVersion)
        }
        if grant == .repoToken { return AuditTarget(connection: s.connection, project: s.project, kind: grant.rawValue) }
        return AuditTarget(
            connection: s.connection, project: s.project, kind: s.pin?.version.kind.rawValue ?? grant.rawValue, version: s.pin?.version.version)
    }

    private static func releaseActor(_ req: Request, sessionID: String?) -> AuditEntry.Actor {
        .init(role: .build, uid: req.peer.uid, gid: req.peer.gid, pid: req.peer.pid, sessionID: sessionID)
    }

    /// The fast path, answered from the event loop with no task: a release the decision
    /// grants and that needs no async step takes its use under the session table's lock,
    /// opens the secret, and is sent once the audit writer has made the granted row
    /// durable. Anything else declines (nil) to `release`, which decides again with the
    /// same function and records why. A fault after the use was taken gives the use back
    /// and writes `failed internal`, as the checked path does.
    func releaseOnLoop(_ req: Request, grant: Grant, on loop: any EventLoop) -> EventLoopFuture<Response>? {
        let decided = decideRelease(req, grant: grant, fastOnly: true)
        guard decided.decision.isFast, let s = decided.subject, let pin = s.pin else { return nil }
        let op = Operation(
            vault: self, request: req, actor: Self.releaseActor(req, sessionID: s.id), action: .secretRelease, target: Self.releaseTarget(s, grant: grant))
        let promise = loop.makePromise(of: Response.self)
        let secret: SecretBytes
        do {
            secret = try keyRing.open(pin.sealed, for: pin.version.binding)
        } catch {
            sessions.returnUse(id: s.id)
            logger.error("release failed", metadata: ["request": "\(req.requestID)", "error": "\(error)"])
            audit.append(op.entry(.failed, reason: RefusalCode.internalFault.rawValue)) { result in
                if case .failure(let e as AuditError) = result { promise.succeed(.error(.auditUnavailable(e))) } else { promise.succeed(.error(.internalFault)) }
            }
            return promise.futureResult
        }
        let body = Self.releaseBody(grant, s, pin.version, secret)
        audit.append(op.entry(.granted)) { [sessions, logger, metrics] result in
            switch result {
            case .success:
                metrics.released(grant)
                promise.succeed(Response(body: body, holdsSecret: true))
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

    /// The checked path: the same decision, then whatever needs an async step — ending an
    /// expired or used-up session, reading a seal again after a master-key rotation.
    func release(_ op: inout Operation, grant: Grant) async throws -> Response {
        let req = op.request
        let decided = decideRelease(req, grant: grant, fastOnly: false)
        let session = decided.session
        op.actor = Self.releaseActor(req, sessionID: session?.id)
        op.target = Self.releaseTarget(decided.subject, grant: grant)
        switch decided.decision {
        case .refuse(let code):
            if code == .sessionExpired, let id = session?.id {
                _ = await endSessions(.expired, requestID: req.requestID) { $0.id == id }
            }
            throw try await op.refuse(APIError(code, ReleaseDecision.message(code, session, decided.facts)))
        case .release(_, let lastUse, _) where grant == .repoToken:
            guard let s = session else { throw APIError.internalFault }
            return try await releaseRepoToken(&op, s, lastUse: lastUse)
        case .release(_, let lastUse, _) where grant == .sshCert:
            guard let s = session, let issued = s.certificate else { throw APIError.internalFault }
            let body: ByteBuffer
            do {
                body = try Self.certificateBody(s, issued)
                try await op.record(.granted)  // durable before a byte of the key leaves
            } catch {
                sessions.returnUse(id: s.id)
                if let e = error as? APIError { throw e }
                throw try await op.fail(error)
            }
            if lastUse {
                sessions.rememberUsedUp(tokenHash: s.tokenHash, until: s.deadline)
                _ = await endSessions(.usedUp, requestID: req.requestID) { $0.id == s.id }
            }
            return Response(body: body, holdsSecret: true)
        case .release(_, let lastUse, _):
            guard let s = session, let subject = decided.subject, let pin = subject.pin else { throw APIError.internalFault }
            let secret: SecretBytes
            do {
                secret = try openSealed(pin.sealed, for: pin.version)
                try await op.record(.granted)  // durable before a byte of the secret leaves
            } catch let e as APIError {
                sessions.returnUse(id: s.id)
                if e.code == .auditUnavailable || op.hasRecorded { throw e }
                throw try await op.refuse(e)
            } catch {
                sessions.returnUse(id: s.id)
                throw try await op.fail(error)
            }
            metrics.released(grant)
            if lastUse {
                sessions.rememberUsedUp(tokenHash: s.tokenHash, until: s.deadline)
                _ = await endSessions(.usedUp, requestID: req.requestID) { $0.id == s.id }
            }
            return Response(body: Self.releaseBody(grant, subject, pin.version, secret), holdsSecret: true)
        }
    }

    /// A build's view of its session for a request that takes no use (its agent): the
    /// same checks as a release up to the grant, the same codes.
    func liveSession(_ op: inout Operation, grant: Grant) async throws -> BuildSession {
        let req = op.request
        let hash = sessionTokenHash(req)
        let session = hash.flatMap { sessions.session(tokenHash: $0) }
        let facts = releaseFacts(req, grant: grant, tokenPresented: hash != nil)
        op.actor = Self.releaseActor(req, sessionID: session?.id)
        op.target = Self.releaseTarget(session?.releaseSubject(grant), grant: grant)
        // A use is not taken, so the use count does not refuse.
        var unused = session
        if var s = unused { s.uses = 0; s.maxUses = max(s.maxUses, 1); unused = s }
        if case .refuse(let code) = ReleaseDecision.decide(unused, facts), code != .secretRevoked, code != .tokenExpired {
            if code == .sessionExpired, let id = session?.id {
                _ = await endSessions(.expired, requestID: req.requestID) { $0.id == id }
            }
            throw try await op.refuse(APIError(code, ReleaseDecision.message(code, unused, facts)))
        }
        guard let session else { throw APIError(.invalidSession) }
        return session
    }

    /// `GET /v1/session` (build): what the build's own session carries — grants, uses
    /// left, expiry — with the checks of a redeem up to the grant, taking no use (so
    /// `latchkey exec` can choose how to set up SSH without asking for what it lacks).
    func showOwnSession(_ op: inout Operation) async throws -> SessionInfo {
        let found = sessionTokenHash(op.request).flatMap { sessions.session(tokenHash: $0) }
        let anyGrant = found?.grants.sorted { $0.rawValue < $1.rawValue }.first ?? .token
        let s = try await liveSession(&op, grant: anyGrant)
        op.target = AuditTarget(connection: s.connection, project: s.project)
        return sessionInfo(s)
    }

    /// The keyed hash of a well-formed bearer session token, or nil.
    private func sessionTokenHash(_ req: Request) -> [UInt8]? {
        guard var bearer = req.bearerToken.map({ Array($0.utf8) }), bearer.count == Self.sessionTokenPrefix.utf8.count + 43,
            bearer.starts(with: Self.sessionTokenPrefix.utf8), let token = try? SecretBytes(consuming: &bearer)
        else { return nil }
        return keyRing.keyedHash(token, purpose: "session-token")
    }

    /// The session's ssh-agent: made on first request (idempotent after, for the same
    /// uid), lives until the session ends. It takes no use; the session's TTL bounds it.
    /// It lists the session's certificate and its key (ssh-cert) first, then the deploy
    /// key (deploy-key or deploy-key-agent). It is bound to the uid that opened it:
    /// another uid, even holding the token, gets `agent_not_yours`.
    func openAgent(_ op: inout Operation) async throws -> Response {
        let certificateOnly = sessionTokenHash(op.request).flatMap { sessions.session(tokenHash: $0) }
            .map { $0.grants.contains(.sshCert) && !$0.grants.allowsAgent } ?? false
        let s = try await liveSession(&op, grant: certificateOnly ? .sshCert : .deployKeyAgent)
        let req = op.request
        let pinned = s.grants.allowsAgent ? s.deployKeyVersion : nil
        let certificate = s.grants.contains(.sshCert) ? s.certificate : nil
        guard pinned != nil || certificate != nil else {
            throw try await op.refuse(APIError(.grantMissing, "this session was granted neither deploy-key, deploy-key-agent nor ssh-cert"))
        }
        if let existing = agents.agent(for: s.id) {
            guard existing.boundUID == req.peer.uid else { throw try await op.refuse(APIError(.agentNotYours)) }
            try await op.record(.granted)
            return .json(SessionAgentInfo(socketPath: existing.socketPath, fingerprint: existing.fingerprint, expiresAt: s.expiresAt.description))
        }
        var identities: [SessionAgentIdentity] = []
        if let certificate {
            let comment = "latchkey:\(s.project):\(s.id)"
            identities.append(SessionAgentIdentity(blob: certificate.certificate.blob, comment: comment, signer: certificate.key))
            identities.append(SessionAgentIdentity(blob: certificate.key.publicKeyBlob, comment: comment, signer: certificate.key))
        }
        if let pinned {
            let owner = Project.owner(s.project)
            let (version, sealed) = try await store.database.read { db in
                (try SecretVersions.find(kind: .deployKey, owner: owner, version: pinned, in: db),
                 try SecretVersions.sealed(kind: .deployKey, owner: owner, version: pinned, in: db))
            }
            guard version.isUsable(at: .now()), s.pinnedKey?.version.isUsable(at: .now()) == true, let sealed else {
                throw try await op.refuse(APIError(.secretRevoked, "deploy-key v\(pinned) of \(s.project) has been revoked or its grace has ended"))
            }
            let key = try DeployKey(openSSHPrivateKey: try openSealed(sealed, for: version))
            identities.append(
                SessionAgentIdentity(blob: key.publicKeyBlob, comment: "latchkey:\(s.project):v\(pinned)", signer: key, deployKeyVersion: pinned))
        }
        let agent = try agentFactory.start(
            SessionAgentContext(
                vault: self, sessionID: s.id, identities: identities, boundUID: req.peer.uid, boundGID: req.peer.gid, target: op.target,
                connections: agents.perUID, requestTimeout: limits.agentRequestTimeout),
            under: agentParent)
        do {
            try await op.record(.granted)
        } catch {
            agent.stop()
            throw error
        }
        // Two first requests at once: the first agent in the table is the session's.
        let winner = agents.add(agent)
        if winner.socketPath != agent.socketPath {
            agent.stop()
            guard winner.boundUID == req.peer.uid else { throw APIError(.agentNotYours) }
            return .json(SessionAgentInfo(socketPath: winner.socketPath, fingerprint: winner.fingerprint, expiresAt: s.expiresAt.description))
        }
        // A session that ended meanwhile takes its agent with it.
        if sessions.session(id: s.id) == nil { agents.stop(s.id) }
        return .json(SessionAgentInfo(socketPath: agent.socketPath, fingerprint: agent.fingerprint, expiresAt: s.expiresAt.description), status: 201)
    }

    /// Opens with the active KEK; a master-key rotation that committed between the read
    /// and the open is handled by reading again.
    func openSealed(_ sealed: SealedSecret, for version: SecretVersion) throws -> SecretBytes {
        if sealed.generation == keyRing.generation { return try keyRing.open(sealed, for: version.binding) }
        let fresh = try store.database.read { db in
            try SecretVersions.sealed(kind: version.kind, owner: version.owner, version: version.version, in: db)
        }
        guard let fresh else { throw APIError(.secretRevoked, "the secret was revoked") }
        // On a shared store another host may have rotated a moment before this one heard of it.
        if fresh.generation > keyRing.generation, store.engine != .sqlite {
            _ = try store.database.read { [keyRing] db in try keyRing.adoptNewestGeneration(in: db) }
        }
        return try keyRing.open(fresh, for: version.binding)
    }
}

extension BuildSession {
    /// What a decided release of `grant` needs of this session (called in place, through
    /// optional chaining, so the session itself is not copied).
    func releaseSubject(_ grant: Grant) -> Vault.ReleaseSubject {
        Vault.ReleaseSubject(
            id: id, project: project, connection: connection, pin: pin(grant),
            certificateVersion: grant == .sshCert ? certificate?.authorityVersion : nil)
    }
}
