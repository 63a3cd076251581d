package import LatchkeyAPI
package import LatchkeyStore

extension Vault {
    func addProject(_ op: inout Operation, _ body: ProjectRequest) async throws -> ProjectInfo {
        op.target = AuditTarget(connection: body.connection, project: body.name)
        // A repository form that does not fit the connection's server conflicts with the
        // connection (409); a malformed one is refused by the schema's pattern (400).
        do {
            let connection = try await store.database.read { db in try Connection.find(body.connection, in: db).connection }
            try connection.validateRepository(body.repo)
        } catch let e as StoreError {
            guard case .invalid(let message) = e else { throw e }
            throw APIError(.conflict, message)
        }
        let p = try await op.change { db in
            let p = try Project(
                name: body.name, connection: body.connection, repo: body.repo, installDeployKey: body.installDeployKey ?? false,
                deployKeyWrite: body.deployKeyWrite ?? false)
            try Project.insert(p, in: db)
            return p
        }
        var info = ProjectInfo(
            name: p.name, connection: p.connection, repo: p.repo, createdAt: p.createdAt.description, deployKey: nil, liveSessions: 0)
        info.installDeployKey = p.installDeployKey
        info.deployKeyWrite = p.deployKeyWrite
        return info
    }

    /// `PATCH /v1/projects/{name}`: turns Latchkey's installing of deploy keys on or off.
    func setProject(_ op: inout Operation, _ body: ProjectUpdateRequest) async throws -> ProjectInfo {
        let name = op.request.parameters["name"] ?? ""
        op.target = AuditTarget(project: name)
        let live = sessions.all()
        return try await op.change { db in
            let current = try Project.find(name, in: db).project
            let install = body.installDeployKey ?? current.installDeployKey
            let p = try Project.setInstall(name, installDeployKey: install, write: body.deployKeyWrite ?? (install && current.deployKeyWrite), in: db)
            return try self.projectInfo(p, db: db, live: live)
        }
    }

    func listProjects(_ op: inout Operation) async throws -> [ProjectInfo] {
        let live = sessions.all()
        return try await op.read { db in
            try Project.all(in: db).map { p in try self.projectInfo(p, db: db, live: live) }
        }
    }

    func showProject(_ op: inout Operation) async throws -> ProjectInfo {
        let name = op.request.parameters["name"] ?? ""
        op.target = AuditTarget(project: name)
        let live = sessions.all()
        return try await op.read { db in try self.projectInfo(try Project.find(name, in: db).project, db: db, live: live) }
    }

    func removeProject(_ op: inout Operation) async throws -> RemovalResult {
        let name = op.request.parameters["name"] ?? ""
        op.target = AuditTarget(project: name)
        let force = try op.request.flag("force", yes: ["true"], no: ["false"])
        var live = sessions.all().filter { $0.project == name }.count
        if store.engine != .sqlite {
            // A fleet: other hosts' sessions of the project count too (their daemons end them).
            let host = hostName
            live += try await op.read { db in try BuildSessionRecord.openOnOtherHosts(than: host, in: db) }.filter { $0.project == name }.count
        }
        if live > 0 && !force {
            throw APIError(.liveSessions, "project '\(name)' has \(live) live session(s); wait for them, revoke them, or use --force")
        }
        let destroyed = try await op.change { db in try Project.remove(name, in: db) }
        let ended = await endSessions(.projectRemoved, requestID: op.request.requestID) { $0.project == name }
        await truncateWAL(after: "project.remove")
        return RemovalResult(removed: name, destroyedVersions: destroyed, endedSessions: ended)
    }

    func projectInfo(_ p: Project, db: StoreDB, live: [BuildSession]) throws -> ProjectInfo {
        let key = try SecretVersions.findActive(kind: .deployKey, owner: p.owner, in: db)
        let installs = try SCMDeployKeys.list(project: p.name, in: db)
        var info = ProjectInfo(
            name: p.name, connection: p.connection, repo: p.repo, createdAt: p.createdAt.description,
            deployKey: key.map { self.deployKeyInfo($0, project: p.name, installs: installs) }, liveSessions: live.filter { $0.project == p.name }.count)
        info.installDeployKey = p.installDeployKey
        info.deployKeyWrite = p.deployKeyWrite
        return info
    }
}
