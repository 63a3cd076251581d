package import LatchkeyAPI
package import LatchkeySSH
package import LatchkeyStore

extension Vault {
    static let defaultGrace: Duration = .seconds(3600)
    static let maxGraceSeconds: Int64 = 30 * 86400

    func listDeployKeys(_ op: inout Operation) async throws -> [DeployKeyInfo] {
        let name = op.request.parameters["name"] ?? ""
        op.target = AuditTarget(project: name, kind: SecretKind.deployKey.rawValue)
        return try await op.read { db in
            _ = try Project.find(name, in: db)
            let installs = try SCMDeployKeys.list(project: name, in: db)
            return try SecretVersions.list(kind: .deployKey, owner: Project.owner(name), in: db).map {
                self.deployKeyInfo($0, project: name, installs: installs)
            }
        }
    }

    func showDeployKey(_ op: inout Operation) async throws -> DeployKeyInfo {
        let name = op.request.parameters["name"] ?? ""
        let versionText = op.request.parameters["version"] ?? ""
        let isNumber = versionText.utf8.first.map { (49...57).contains($0) } == true && versionText.utf8.allSatisfy { (48...57).contains($0) }
        let version: Int64? = versionText == "current" || !isNumber ? nil : Int64(versionText)
        op.target = AuditTarget(project: name, kind: SecretKind.deployKey.rawValue, version: version)
        guard version != nil || versionText == "current" else {
            throw APIError.invalid("version must be a number or 'current', not '\(Names.printable(versionText))'")
        }
        return try await op.read { [keyRing] db in
            _ = try Project.find(name, in: db)
            let v = try SecretVersions.find(kind: .deployKey, owner: Project.owner(name), version: version, in: db)
            // The public key shown is the one the private key has (a usable version's is
            // opened here and compared; a revoked one's rests on the row's binding).
            if let sealed = try SecretVersions.sealed(kind: .deployKey, owner: v.owner, version: v.version, in: db) {
                let key = try DeployKey(openSSHPrivateKey: try keyRing.open(sealed, for: v.binding))
                let comment = "latchkey:\(name):v\(v.version)"
                guard key.authorizedKeysLine(comment: comment) == v.attributes["public_key"], key.fingerprint == v.attributes["fingerprint"] else {
                    throw StoreError.bindingFailed(row: "secret_version deploy-key \(v.owner) v\(v.version)")
                }
            }
            return self.deployKeyInfo(v, project: name, installs: try SCMDeployKeys.list(project: name, in: db))
        }
    }

    func revokeDeployKeys(_ op: inout Operation, _ body: RevokeRequest) async throws -> RevokeResult {
        let name = op.request.parameters["name"] ?? ""
        op.target = AuditTarget(project: name, kind: SecretKind.deployKey.rawValue, version: body.version)
        let (revoked, queued) = try await op.change { db in
            _ = try Project.find(name, in: db)
            let revoked = try SecretVersions.revoke(kind: .deployKey, owner: Project.owner(name), version: body.version, in: db)
            // Installed versions leave the server too: queued here, in the same transaction.
            return (revoked, try SCMDeployKeys.markRemoving(project: name, versions: revoked, in: db))
        }
        // Every session holding a version named or revoked here ends, also when the
        // version was already revoked or retired (then `revoked` is empty).
        let named = body.version
        let ended = await endSessions(.keyRevoked, requestID: op.request.requestID) { s in
            s.project == name && s.deployKeyVersion.map { revoked.contains($0) || $0 == named } == true
        }
        await reportBindingFailures(
            queued.refused, action: .deployKeyUninstall, target: AuditTarget(project: name, kind: SecretKind.deployKey.rawValue),
            requestID: op.request.requestID)
        if queued.queued > 0 { await workDueRemovals(requestID: op.request.requestID) }
        await truncateWAL(after: "deploy-key.revoke")
        return RevokeResult(revokedVersions: revoked, endedSessions: ended)
    }

    /// Create (first key, or another one next to none active) and rotate share one path:
    /// a new version becomes active; the previous one retires after the grace.
    func createDeployKey(_ op: inout Operation, _ body: DeployKeyRequest, rotate isRotate: Bool) async throws -> DeployKeyInfo {
        let name = op.request.parameters["name"] ?? ""
        op.target = AuditTarget(project: name, kind: SecretKind.deployKey.rawValue)
        guard let type = DeployKeyType(rawValue: body.type ?? DeployKeyType.ed25519.rawValue) else {
            throw APIError.invalid("key type must be ed25519, ecdsa-p256, rsa-3072 or rsa-4096, not '\(Names.printable(body.type ?? ""))'")
        }
        let graceSeconds = body.graceSeconds ?? Self.defaultGrace.components.seconds
        guard (0...Self.maxGraceSeconds).contains(graceSeconds) else {
            throw APIError.invalid("grace must be between 0 s and 30 days")
        }
        // The cheap checks first (project, existing key), then key generation (RSA takes
        // a while), then the write transaction, which checks again.
        let check: @Sendable (StoreDB) throws -> (Int64, Project) = { db in
            let (projectID, project) = try Project.find(name, in: db)
            let existing = try SecretVersions.findActive(kind: .deployKey, owner: project.owner, in: db)
            if isRotate && existing == nil {
                throw StoreError.conflict(what: "project '\(name)' has no active deploy key to rotate; create one first with `latchkey deploy-key create \(name)`")
            }
            if !isRotate, let existing {
                throw StoreError.conflict(
                    what: "project '\(name)' already has deploy key v\(existing.version); use `deploy-key rotate \(name)` for a new one")
            }
            return (projectID, project)
        }
        let (_, project) = try await store.database.read(check)
        let key = try await onOwnThread(name: "latchkey-keygen") { try DeployKey.generate(type: type) }
        // With --install-deploy-key the key goes on the server first, under the version it
        // will have; the version and the server's id are then stored together.
        var installed: (version: Int64, id: String)?
        if project.installDeployKey {
            let next = try await store.database.read { db in
                (try Int64.fetchOne(
                    db, sql: "SELECT MAX(version) FROM secret_version WHERE kind = ? AND owner = ?", arguments: [SecretKind.deployKey.rawValue, project.owner]) ?? 0) + 1
            }
            let line = key.authorizedKeysLine(comment: Self.deployKeyTitle(project: name, version: next))
            installed = (next, try await installOnServer(project, version: next, publicKey: line, requestID: op.request.requestID))
        }
        let planned = installed
        let version = try await op.change { db in
            let (projectID, project) = try check(db)
            let v = try SecretVersions.add(
                kind: .deployKey, owner: project.owner, projectID: projectID, grace: .seconds(graceSeconds), keyRing: self.keyRing, in: db
            ) { version in
                let comment = "latchkey:\(name):v\(version)"
                return (try key.openSSHPrivateKey(comment: comment), [
                    "type": type.rawValue, "bits": String(type.bits), "fingerprint": key.fingerprint,
                    "public_key": key.authorizedKeysLine(comment: comment),
                ])
            }
            if let planned {
                // Another version was stored meanwhile: this one rolls back, and the key
                // installed under its number is removed by the next reconciliation.
                guard planned.version == v.version else {
                    throw StoreError.conflict(what: "deploy key of '\(name)' changed while this one was installed; try again")
                }
                try SCMDeployKeys.recordInstalled(
                    project: name, version: v.version, repo: project.repo, connection: project.connection, serverKeyID: planned.id, in: db)
            }
            return v
        }
        if isRotate {
            sessions.retire(kind: .deployKey, owner: Project.owner(name), before: version.version, at: Timestamp.now().adding(seconds: graceSeconds))
            // No grace: the sessions holding an older version end now, agents with them.
            if graceSeconds == 0 {
                let current = version.version
                _ = await endSessions(.keyRevoked, requestID: op.request.requestID) { s in
                    s.project == name && s.deployKeyVersion.map { $0 < current } == true
                }
            }
        }
        let installs = try await store.database.read { db in try SCMDeployKeys.list(project: name, in: db) }
        return deployKeyInfo(version, project: name, installs: installs)
    }

    func deployKeyInfo(_ v: SecretVersion, project: String, installs: [SCMDeployKeyRecord] = []) -> DeployKeyInfo {
        var info = DeployKeyInfo(
            project: project, version: v.version, type: v.attributes["type"] ?? "?", bits: Int(v.attributes["bits"] ?? "") ?? 0,
            fingerprint: v.attributes["fingerprint"] ?? "", publicKey: v.attributes["public_key"] ?? "", state: v.state.rawValue,
            retireAt: v.state == .retiring ? v.retireAt?.description : nil, revokedAt: v.revokedAt?.description,
            createdAt: v.createdAt.description)
        if let r = installs.first(where: { $0.version == v.version }) {
            info.install = DeployKeyInstallInfo(
                state: r.state.rawValue, serverKeyId: r.serverKeyID, attempts: r.attempts,
                nextAttemptAt: r.state == .removing ? r.nextAttemptAt?.description : nil, lastError: r.lastError)
        }
        return info
    }
}
