import Foundation
package import LatchkeyAPI
package import LatchkeyAudit
package import LatchkeyCrypto
package import LatchkeyPolicy
package import LatchkeyStore

extension Vault {
    static let defaultSessionTTL: Int64 = 600
    static let defaultSessionUses = 10
    static let sessionTokenPrefix = "lks_"

    /// This host's live sessions; on a shared store, then every other host's open ones.
    func listSessions(_ op: inout Operation) async throws -> [SessionInfo] {
        let mine = sessions.all().sorted { $0.createdAt < $1.createdAt }.map(sessionInfo)
        guard store.engine != .sqlite else { return mine }
        let host = hostName
        let others = try await store.database.read { db in try BuildSessionRecord.openOnOtherHosts(than: host, in: db) }
        return mine + others.map(Self.sessionInfo)
    }

    /// The role a peer holds for this request whatever the policy says: the uid that
    /// opened a live session may always close it as its runner (also after a reload took
    /// its rule away).
    func exemptRole(_ req: Request, _ action: AuditAction) -> Role? {
        guard action == .sessionClose, let id = req.parameters["id"], let s = sessions.session(id: id), s.runner.uid == req.peer.uid else { return nil }
        return .runner
    }

    /// A runner closes a session it opened (an admin, any session).
    func closeSession(_ op: inout Operation) async throws -> SessionInfo {
        let req = op.request
        let id = req.parameters["id"] ?? ""
        guard let s = sessions.session(id: id), s.runner.uid == req.peer.uid || policy.isAdmin(identity(req)) else {
            throw APIError.notFound("no live session '\(Names.printable(id))' opened by uid \(req.peer.uid)")
        }
        try await endSession(s, .closed, op: &op)
        return sessionInfo(s)
    }

    /// Ends a live session of this host, or on a shared store another host's: its row is
    /// ended here, and the daemon holding it ends it when the change reaches it (within
    /// `changesPollInterval`), auditing that end itself.
    func revokeSession(_ op: inout Operation) async throws -> SessionInfo {
        let id = op.request.parameters["id"] ?? ""
        if let s = sessions.session(id: id) {
            try await endSession(s, .revoked, op: &op)
            return sessionInfo(s)
        }
        let host = hostName
        let elsewhere = store.engine == .sqlite ? nil : try await store.database.read { db in
            try BuildSessionRecord.openOnOtherHost(id: id, than: host, in: db)
        }
        guard let remote = elsewhere else { throw APIError.notFound("no live session '\(Names.printable(id))'") }
        op.target = AuditTarget(project: remote.project)
        try await op.change { db in
            // The holding host revokes the session's minted tokens as it ends it.
            try BuildSessionRecord.end(id: remote.id, reason: SessionEnd.revoked.rawValue, in: db)
        }
        return Self.sessionInfo(remote)
    }

    package func identity(_ req: Request) -> PeerIdentity { PeerIdentity(uid: req.peer.uid, gid: req.peer.gid, pid: req.peer.pid) }

    func openSession(_ op: inout Operation, _ body: SessionOpenRequest) async throws -> SessionOpened {
        let req = op.request
        op.target = AuditTarget(project: body.project)
        guard let rule = policy.runnerRule(for: identity(req), project: body.project) else {
            throw APIError(.projectNotAllowed,
                "the policy lets uid \(req.peer.uid) open no sessions for project '\(Names.printable(body.project))'")
        }
        guard !body.grants.isEmpty else { throw APIError.invalid("ask for at least one grant: deploy-key, deploy-key-agent, token, ssh-cert or repo-token") }
        var grants = Set<Grant>()
        for g in body.grants {
            guard let grant = Grant(rawValue: g) else {
                throw APIError.invalid("unknown grant '\(Names.printable(g))': use deploy-key, deploy-key-agent, token, ssh-cert or repo-token")
            }
            guard rule.allows(grant) else {
                throw APIError(.grantNotAllowed, "runner rule '\(rule.name)' does not allow the \(g) grant")
            }
            grants.insert(grant)
        }
        let maxTTL = rule.maxTTL.components.seconds
        let ttl = body.ttlSeconds ?? min(Self.defaultSessionTTL, maxTTL)
        guard ttl >= 1 else { throw APIError.invalid("the TTL must be at least 1 second") }
        guard ttl <= maxTTL else {
            throw APIError(.ttlTooLong, "a TTL of \(ttl)s exceeds the policy's cap of \(maxTTL)s for rule '\(rule.name)'")
        }
        let uses = body.uses ?? min(Self.defaultSessionUses, rule.maxUses)
        guard uses >= 1 else { throw APIError.invalid("uses must be at least 1") }
        guard uses <= rule.maxUses else {
            throw APIError(.tooManyUses, "\(uses) uses exceed the policy's cap of \(rule.maxUses) for rule '\(rule.name)'")
        }
        if !(body.permissions ?? []).isEmpty, !grants.contains(.repoToken) {
            throw APIError.invalid("permissions are for the repo-token grant; ask for it too (--grant repo-token)")
        }
        let granted = grants
        // A place among the runner's live sessions, held until the session is in the table.
        guard sessions.reserve(runner: req.peer.uid, limit: limits.maxSessionsPerRunner) else {
            throw APIError(.sessionLimit,
                "uid \(req.peer.uid) already holds \(limits.maxSessionsPerRunner) live sessions; close some (`latchkey session close ID`) first")
        }
        var placeHeld = true
        defer { if placeHeld { sessions.cancelReservation(runner: req.peer.uid) } }
        // The versions this session will carry, pinned now.
        let pinned: (connection: String, key: PinnedSecret?, token: PinnedSecret?)
        do {
            pinned = try await store.database.read { db in
                let project = try Project.find(body.project, in: db).project
                var key: PinnedSecret?
                if granted.allowsAgent {
                    guard let k = try SecretVersions.findActive(kind: .deployKey, owner: project.owner, in: db),
                        let sealed = try SecretVersions.sealed(kind: .deployKey, owner: project.owner, version: k.version, in: db)
                    else {
                        throw APIError(.noDeployKey, "project '\(project.name)' has no active deploy key; an admin runs `latchkey deploy-key create \(project.name)`")
                    }
                    key = PinnedSecret(version: k, sealed: sealed)
                }
                var token: PinnedSecret?
                if granted.contains(.token) {
                    let owner = "connection:\(project.connection)"
                    let now = Timestamp.now()
                    let candidate = try SecretVersions.findActive(kind: .token, owner: owner, in: db)
                        ?? SecretVersions.findActive(kind: .oauthClient, owner: owner, in: db)
                    guard let t = candidate else {
                        throw APIError(.noToken, "connection '\(project.connection)' has no active token; an admin runs `latchkey token put \(project.connection)`")
                    }
                    if let exp = t.attributes["expires"].flatMap(Timestamp.init(parsing:)), now >= exp {
                        throw APIError(.tokenExpired, "the token of connection '\(project.connection)' expired on \(t.attributes["expires"]!)")
                    }
                    guard let sealed = try SecretVersions.sealed(kind: t.kind, owner: owner, version: t.version, in: db) else {
                        throw APIError(.noToken, "connection '\(project.connection)' has no usable token")
                    }
                    token = PinnedSecret(version: t, sealed: sealed)
                }
                return (project.connection, key, token)
            }
        } catch {
            throw try await op.fail(error)
        }
        var mintPermissions: [String] = []
        if grants.contains(.repoToken) {
            do {
                let kind = try await store.database.read { db in try Connection.find(pinned.connection, in: db).connection.kind }
                mintPermissions = try Self.repoTokenPermissions(body.permissions ?? [], rule: rule, kind: kind, connection: pinned.connection)
                try await checkCanMint(connection: pinned.connection, kind: kind)
            } catch {
                op.target = AuditTarget(connection: pinned.connection, project: body.project)
                throw try await op.fail(error)
            }
        }
        var tokenBytes = randomToken(prefix: Self.sessionTokenPrefix, bytes: 32)
        let tokenString = String(decoding: tokenBytes, as: UTF8.self)
        let tokenHash = keyRing.keyedHash(try SecretBytes(consuming: &tokenBytes), purpose: "session-token")
        let id = "s_" + Hex.encode(randomBytes(12))
        let now = Timestamp.now()
        op.target = AuditTarget(connection: pinned.connection, project: body.project)
        var certificate: SessionCertificate?
        if grants.contains(.sshCert) {
            certificate = try await issueSessionCertificate(
                op, project: body.project, connection: pinned.connection, sessionID: id, build: body.build, openedAt: now,
                expiresAt: now.adding(seconds: ttl))
        }
        var session = BuildSession(
            id: id, tokenHash: tokenHash, project: body.project, connection: pinned.connection, buildID: body.build, runner: req.peer,
            rule: rule, grants: grants, maxUses: uses, uses: 0, createdAt: now, expiresAt: now.adding(seconds: ttl),
            deadline: ContinuousClock.now + .seconds(ttl), deployKeyVersion: pinned.key?.version.version,
            tokenVersion: pinned.token?.version.version, tokenKind: pinned.token?.version.kind, pinnedKey: pinned.key,
            pinnedToken: pinned.token)
        session.certificate = certificate
        session.repoTokenPermissions = mintPermissions
        op.target = AuditTarget(connection: pinned.connection, project: body.project)
        op.actor.sessionID = id
        let record = BuildSessionRecord(
            id: id, tokenHash: tokenHash, project: body.project, buildID: body.build, runnerUID: req.peer.uid,
            grants: grants.map(\.rawValue).sorted(), maxUses: uses, createdAt: now, expiresAt: session.expiresAt,
            host: hostName)
        try await op.change { db in try record.insert(in: db) }
        sessions.insert(session, reserved: true)
        placeHeld = false
        metrics.sessionOpened()
        return SessionOpened(id: id, token: tokenString, project: body.project, grants: grants.map(\.rawValue).sorted(), uses: uses,
            expiresAt: session.expiresAt.description)
    }

    func endSession(_ s: BuildSession, _ reason: SessionEnd, op: inout Operation) async throws {
        op.target = AuditTarget(connection: s.connection, project: s.project)
        let uses = s.uses
        // Only a repo-token session has minted tokens to queue for revocation.
        let minted = s.grants.contains(.repoToken)
        let sessions = sessions
        try await op.change { db in
            if minted { try MintedTokens.queueRevocation(sessionIDs: [s.id], in: db) }
            try BuildSessionRecord.end(id: s.id, reason: reason.rawValue, uses: uses, in: db)
            // Out of the table before the end commits: on a shared store the end's change
            // reaches this daemon's own feed too, and must find nothing left to end.
            sessions.remove(s.id)
        }
        agents.stop(s.id)
        mintedTokens.remove(s.id)
        metrics.sessionEnded(reason)
        if s.grants.contains(.repoToken) { startSCMWork { await $0.workDueMintedRevocations() } }
    }

    func sessionInfo(_ s: BuildSession) -> SessionInfo {
        SessionInfo(
            id: s.id, project: s.project, build: s.buildID, runnerUid: s.runner.uid, grants: s.grants.map(\.rawValue).sorted(),
            usesLeft: s.maxUses - s.uses, maxUses: s.maxUses, createdAt: s.createdAt.description, expiresAt: s.expiresAt.description,
            deployKeyVersion: s.deployKeyVersion, tokenVersion: s.tokenVersion, host: hostName)
    }

    /// Another host's session, as its row has it (that host keeps the live count of uses).
    static func sessionInfo(_ s: BuildSessionRecord.Open) -> SessionInfo {
        SessionInfo(
            id: s.id, project: s.project, build: s.buildID, runnerUid: s.runnerUID, grants: s.grants, usesLeft: nil, maxUses: s.maxUses,
            createdAt: s.createdAt, expiresAt: s.expiresAt, deployKeyVersion: nil, tokenVersion: nil, host: s.host)
    }
}
