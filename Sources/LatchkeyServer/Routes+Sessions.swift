import Foundation
import LatchkeyAPI
import LatchkeyAudit
import LatchkeyCrypto
import LatchkeyPolicy
import LatchkeyStore
import GRDB

extension Vault {
    static let defaultSessionTTL: Int64 = 600
    static let defaultSessionUses = 10
    static let sessionTokenPrefix = "lks_"

    func addSessionRoutes(_ r: inout Router) {
        r.add(.POST, "/v1/sessions") { [self] req in try await openSession(req) }
        r.add(.GET, "/v1/sessions") { [self] req in
            let op = try await authorize(req, as: .admin, action: "session.list", target: AuditTarget())
            let live = sessions.all().sorted { $0.createdAt < $1.createdAt }.map(sessionInfo)
            try await op.record(.granted)
            return .json(live)
        }
        r.add(.DELETE, "/v1/sessions/{id}") { [self] req in
            let id = req.parameters["id"] ?? ""
            // The uid that opened a session can always close it, also after a reload took
            // its runner rule away.
            let opener = sessions.session(id: id)?.runner.uid == req.peer.uid
            let op = try await authorize(req, as: .runner, action: "session.close", target: AuditTarget(), orIf: opener)
            guard let s = sessions.session(id: id), s.runner.uid == req.peer.uid || policy.isAdmin(identity(req)) else {
                throw try await op.refuse(.notFound("no live session '\(Names.printable(id))' opened by uid \(req.peer.uid)"))
            }
            var closing = op
            closing.target = AuditTarget(connection: s.connection, project: s.project)
            try await endSession(s, .closed, op: closing)
            return .json(sessionInfo(s))
        }
        r.add(.POST, "/v1/sessions/{id}/revoke") { [self] req in
            let id = req.parameters["id"] ?? ""
            let op = try await authorize(req, as: .admin, action: "session.revoke", target: AuditTarget())
            guard let s = sessions.session(id: id) else {
                throw try await op.refuse(.notFound("no live session '\(Names.printable(id))'"))
            }
            var revoking = op
            revoking.target = AuditTarget(connection: s.connection, project: s.project)
            try await endSession(s, .revoked, op: revoking)
            return .json(sessionInfo(s))
        }
    }

    func identity(_ req: Request) -> PeerIdentity { PeerIdentity(uid: req.peer.uid, gid: req.peer.gid, pid: req.peer.pid) }

    private func openSession(_ req: Request) async throws -> Response {
        let body = try req.decode(SessionOpenRequest.self)
        let target = AuditTarget(project: body.project)
        let op = try await authorize(req, as: .runner, action: "session.open", target: target)
        guard let rule = policy.runnerRule(for: identity(req), project: body.project) else {
            throw try await op.refuse(.forbidden("project_not_allowed",
                "the policy lets uid \(req.peer.uid) open no sessions for project '\(Names.printable(body.project))'"))
        }
        guard !body.grants.isEmpty else { throw try await op.refuse(.badRequest("invalid", "ask for at least one grant: deploy-key, deploy-key-agent or token")) }
        var grants = Set<Grant>()
        for g in body.grants {
            guard let grant = Grant(rawValue: g) else {
                throw try await op.refuse(.badRequest("invalid", "unknown grant '\(Names.printable(g))': use deploy-key, deploy-key-agent or token"))
            }
            // A rule that grants the key may also hand it out through the agent only.
            guard rule.grants.contains(grant) || (grant == .deployKeyAgent && rule.grants.contains(.deployKey)) else {
                throw try await op.refuse(.forbidden("grant_not_allowed", "runner rule '\(rule.name)' does not allow the \(g) grant"))
            }
            grants.insert(grant)
        }
        let maxTTL = rule.maxTTL.components.seconds
        let ttl = body.ttlSeconds ?? min(Self.defaultSessionTTL, maxTTL)
        guard ttl >= 1 else { throw try await op.refuse(.badRequest("invalid", "the TTL must be at least 1 second")) }
        guard ttl <= maxTTL else {
            throw try await op.refuse(.forbidden("ttl_too_long", "a TTL of \(ttl)s exceeds the policy's cap of \(maxTTL)s for rule '\(rule.name)'"))
        }
        let uses = body.uses ?? min(Self.defaultSessionUses, rule.maxUses)
        guard uses >= 1 else { throw try await op.refuse(.badRequest("invalid", "uses must be at least 1")) }
        guard uses <= rule.maxUses else {
            throw try await op.refuse(.forbidden("too_many_uses", "\(uses) uses exceed the policy's cap of \(rule.maxUses) for rule '\(rule.name)'"))
        }
        guard (1...128).contains(body.build.utf8.count), !body.build.unicodeScalars.contains(where: { $0.value < 0x20 }) else {
            throw try await op.refuse(.badRequest("invalid", "--build must be 1–128 printable characters"))
        }
        let granted = grants
        // A place among the runner's live sessions, held until the session is in the table.
        guard sessions.reserve(runner: req.peer.uid, limit: maxSessionsPerRunner) else {
            throw try await op.refuse(.forbidden(
                "session_limit", "uid \(req.peer.uid) already holds \(maxSessionsPerRunner) live sessions; close some (`latchkey session close ID`) first"))
        }
        var placeHeld = true
        defer { if placeHeld { sessions.cancelReservation(runner: req.peer.uid) } }
        // The versions this session will carry, pinned now.
        let pinned: (connection: String, key: PinnedSecret?, token: PinnedSecret?)
        do {
            pinned = try await store.database.read { db in
                let project = try Project.find(body.project, in: db).project
                var key: PinnedSecret?
                if granted.contains(.deployKey) || granted.contains(.deployKeyAgent) {
                    guard let k = try? SecretVersions.find(kind: .deployKey, owner: project.owner, version: nil, in: db),
                        let sealed = try SecretVersions.sealed(kind: .deployKey, owner: project.owner, version: k.version, in: db)
                    else {
                        throw APIError.conflict("no_deploy_key", "project '\(project.name)' has no active deploy key; an admin runs `latchkey deploy-key create \(project.name)`")
                    }
                    key = PinnedSecret(version: k, sealed: sealed)
                }
                var token: PinnedSecret?
                if granted.contains(.token) {
                    let owner = "connection:\(project.connection)"
                    let now = Timestamp.now()
                    let candidate = (try? SecretVersions.find(kind: .token, owner: owner, version: nil, in: db))
                        ?? (try? SecretVersions.find(kind: .oauthClient, owner: owner, version: nil, in: db))
                    guard let t = candidate else {
                        throw APIError.conflict("no_token", "connection '\(project.connection)' has no active token; an admin runs `latchkey token put \(project.connection)`")
                    }
                    if let exp = t.attributes["expires"].flatMap(Timestamp.init(parsing:)), now >= exp {
                        throw APIError.forbidden("token_expired", "the token of connection '\(project.connection)' expired on \(t.attributes["expires"]!)")
                    }
                    guard let sealed = try SecretVersions.sealed(kind: t.kind, owner: owner, version: t.version, in: db) else {
                        throw APIError.conflict("no_token", "connection '\(project.connection)' has no usable token")
                    }
                    token = PinnedSecret(version: t, sealed: sealed)
                }
                return (project.connection, key, token)
            }
        } catch {
            throw try await op.refuse(APIError.from(error) ?? .internalFault)
        }
        var tokenBytes = randomToken(prefix: Self.sessionTokenPrefix, bytes: 32)
        let tokenString = String(decoding: tokenBytes, as: UTF8.self)
        let tokenHash = keyRing.keyedHash(try SecretBytes(consuming: &tokenBytes), purpose: "session-token")
        let id = "s_" + Hex.encode(randomBytes(12))
        let now = Timestamp.now()
        let session = BuildSession(
            id: id, tokenHash: tokenHash, project: body.project, connection: pinned.connection, buildID: body.build, runner: req.peer,
            rule: rule, grants: grants, maxUses: uses, uses: 0, createdAt: now, expiresAt: now.adding(seconds: ttl),
            deadline: ContinuousClock.now + .seconds(ttl), deployKeyVersion: pinned.key?.version.version,
            tokenVersion: pinned.token?.version.version, tokenKind: pinned.token?.version.kind, pinnedKey: pinned.key,
            pinnedToken: pinned.token)
        var opened = op
        opened.target = AuditTarget(connection: pinned.connection, project: body.project)
        let record = BuildSessionRecord(
            id: id, tokenHash: tokenHash, project: body.project, buildID: body.build, runnerUID: req.peer.uid,
            grants: grants.map(\.rawValue).sorted(), maxUses: uses, createdAt: now, expiresAt: session.expiresAt)
        let withSession = AuditEntry.Actor(role: op.actor.role, uid: op.actor.uid, gid: op.actor.gid, pid: op.actor.pid, sessionID: id)
        opened = Operation(vault: self, request: req, actor: withSession, action: op.action, target: opened.target)
        try await opened.change { db in try record.insert(in: db) }
        sessions.insert(session, reserved: true)
        placeHeld = false
        return .json(
            SessionOpened(id: id, token: tokenString, project: body.project, grants: grants.map(\.rawValue).sorted(), uses: uses,
                expiresAt: session.expiresAt.description), status: .created)
    }

    func endSession(_ s: BuildSession, _ reason: SessionEnd, op: Operation) async throws {
        var ending = op
        ending.target = AuditTarget(connection: s.connection, project: s.project)
        let uses = s.uses
        try await ending.change { db in try BuildSessionRecord.end(id: s.id, reason: reason.rawValue, uses: uses, in: db) }
        sessions.remove(s.id)
        agents.stop(s.id)
    }

    func sessionInfo(_ s: BuildSession) -> SessionInfo {
        SessionInfo(
            id: s.id, project: s.project, build: s.buildID, runnerUid: s.runner.uid, grants: s.grants.map(\.rawValue).sorted(),
            usesLeft: s.maxUses - s.uses, maxUses: s.maxUses, createdAt: s.createdAt.description, expiresAt: s.expiresAt.description,
            deployKeyVersion: s.deployKeyVersion, tokenVersion: s.tokenVersion)
    }
}
