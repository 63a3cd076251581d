import LatchkeyAPI
import LatchkeySSH
import LatchkeyStore
import GRDB

extension Vault {
    static let defaultGrace: Duration = .seconds(3600)
    static let maxGraceSeconds: Int64 = 30 * 86400

    func addDeployKeyRoutes(_ r: inout Router) {
        r.add(.POST, "/v1/projects/{name}/deploy-keys") { [self] req in
            try await createDeployKey(req, action: "deploy-key.create")
        }
        r.add(.POST, "/v1/projects/{name}/deploy-keys/rotate") { [self] req in
            try await createDeployKey(req, action: "deploy-key.rotate")
        }
        r.add(.GET, "/v1/projects/{name}/deploy-keys") { [self] req in
            let name = req.parameters["name"] ?? ""
            let op = try await authorize(req, as: .admin, action: "deploy-key.list", target: AuditTarget(project: name, kind: "deploy-key"))
            return .json(try await op.read { db in
                _ = try Project.find(name, in: db)
                return try SecretVersions.list(kind: .deployKey, owner: Project.owner(name), in: db).map { self.deployKeyInfo($0, project: name) }
            })
        }
        r.add(.GET, "/v1/projects/{name}/deploy-keys/{version}") { [self] req in
            let name = req.parameters["name"] ?? ""
            let versionText = req.parameters["version"] ?? ""
            let version: Int64? = versionText == "current" ? nil : Int64(versionText)
            let op = try await authorize(req, as: .admin, action: "deploy-key.show", target: AuditTarget(project: name, kind: "deploy-key", version: version))
            guard version != nil || versionText == "current" else {
                throw APIError.badRequest("invalid", "version must be a number or 'current', not '\(Names.printable(versionText))'")
            }
            return .json(try await op.read { db in
                _ = try Project.find(name, in: db)
                return self.deployKeyInfo(try SecretVersions.find(kind: .deployKey, owner: Project.owner(name), version: version, in: db), project: name)
            })
        }
        r.add(.POST, "/v1/projects/{name}/deploy-keys/revoke") { [self] req in
            let name = req.parameters["name"] ?? ""
            let body = req.body.readableBytes > 0 ? try req.decode(RevokeRequest.self) : RevokeRequest()
            let target = AuditTarget(project: name, kind: "deploy-key", version: body.version)
            let op = try await authorize(req, as: .admin, action: "deploy-key.revoke", target: target)
            let revoked = try await op.change { db in
                _ = try Project.find(name, in: db)
                return try SecretVersions.revoke(kind: .deployKey, owner: Project.owner(name), version: body.version, in: db)
            }
            // Every session holding a version named or revoked here ends, also when the
            // version was already revoked or retired (then `revoked` is empty).
            let named = body.version
            let ended = await endSessions(.keyRevoked, requestID: req.requestID) { s in
                s.project == name && s.deployKeyVersion.map { revoked.contains($0) || $0 == named } == true
            }
            return .json(RevokeResult(revokedVersions: revoked, endedSessions: ended))
        }
    }

    /// Create (first key, or another one next to none active) and rotate share one path:
    /// a new version becomes active; the previous one retires after the grace.
    private func createDeployKey(_ req: Request, action: String) async throws -> Response {
        let name = req.parameters["name"] ?? ""
        let body = req.body.readableBytes > 0 ? try req.decode(DeployKeyRequest.self) : DeployKeyRequest()
        let target = AuditTarget(project: name, kind: "deploy-key")
        let op = try await authorize(req, as: .admin, action: action, target: target)
        guard let type = DeployKeyType(rawValue: body.type ?? DeployKeyType.ed25519.rawValue) else {
            throw try await op.refuse(.badRequest("invalid", "key type must be ed25519, ecdsa-p256, rsa-3072 or rsa-4096, not '\(Names.printable(body.type ?? ""))'"))
        }
        let graceSeconds = body.graceSeconds ?? Self.defaultGrace.components.seconds
        guard (0...Self.maxGraceSeconds).contains(graceSeconds) else {
            throw try await op.refuse(.badRequest("invalid", "grace must be between 0 s and 30 days"))
        }
        // Key generation (RSA takes a while) happens before the write transaction.
        let key = try DeployKey.generate(type: type)
        let isRotate = action == "deploy-key.rotate"
        let version = try await op.change { db in
            let (projectID, project) = try Project.find(name, in: db)
            let existing = try? SecretVersions.find(kind: .deployKey, owner: project.owner, version: nil, in: db)
            if isRotate && existing == nil {
                throw StoreError.notFound(what: "an active deploy key for project '\(name)' to rotate; create one first")
            }
            if !isRotate, let existing {
                throw StoreError.conflict(
                    what: "project '\(name)' already has deploy key v\(existing.version); use `deploy-key rotate \(name)` for a new one")
            }
            return try SecretVersions.add(
                kind: .deployKey, owner: project.owner, projectID: projectID, grace: .seconds(graceSeconds), keyRing: self.keyRing, in: db
            ) { version in
                let comment = "latchkey:\(name):v\(version)"
                return (try key.openSSHPrivateKey(comment: comment), [
                    "type": type.rawValue, "bits": String(type.bits), "fingerprint": key.fingerprint,
                    "public_key": key.authorizedKeysLine(comment: comment),
                ])
            }
        }
        if isRotate {
            sessions.retire(kind: .deployKey, owner: Project.owner(name), before: version.version, at: Timestamp.now().adding(seconds: graceSeconds))
            // No grace: the sessions holding an older version end now, agents with them.
            if graceSeconds == 0 {
                let current = version.version
                _ = await endSessions(.keyRevoked, requestID: req.requestID) { s in
                    s.project == name && s.deployKeyVersion.map { $0 < current } == true
                }
            }
        }
        return .json(self.deployKeyInfo(version, project: name), status: .created)
    }

    func deployKeyInfo(_ v: SecretVersion, project: String) -> DeployKeyInfo {
        DeployKeyInfo(
            project: project, version: v.version, type: v.attributes["type"] ?? "?", bits: Int(v.attributes["bits"] ?? "") ?? 0,
            fingerprint: v.attributes["fingerprint"] ?? "", publicKey: v.attributes["public_key"] ?? "", state: v.state.rawValue,
            retireAt: v.state == .retiring ? v.retireAt?.description : nil, revokedAt: v.revokedAt?.description,
            createdAt: v.createdAt.description)
    }
}
