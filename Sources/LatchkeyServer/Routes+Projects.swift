import LatchkeyAPI
import LatchkeyStore
import GRDB

extension Vault {
    func addProjectRoutes(_ r: inout Router) {
        r.add(.POST, "/v1/projects") { [self] req in
            let body = try req.decode(ProjectRequest.self)
            let target = AuditTarget(connection: body.connection, project: body.name)
            let op = try await authorize(req, as: .admin, action: "project.add", target: target)
            let p = try await op.change { db in
                let p = try Project(name: body.name, connection: body.connection, repo: body.repo)
                try Project.insert(p, in: db)
                return p
            }
            return .json(ProjectInfo(name: p.name, connection: p.connection, repo: p.repo, createdAt: p.createdAt.description,
                deployKey: nil, liveSessions: 0), status: .created)
        }
        r.add(.GET, "/v1/projects") { [self] req in
            let op = try await authorize(req, as: .admin, action: "project.list", target: AuditTarget())
            let live = sessions.all()
            return .json(try await op.read { db in
                try Project.all(in: db).map { p in try self.projectInfo(p, db: db, live: live) }
            })
        }
        r.add(.GET, "/v1/projects/{name}") { [self] req in
            let name = req.parameters["name"] ?? ""
            let op = try await authorize(req, as: .admin, action: "project.show", target: AuditTarget(project: name))
            let live = sessions.all()
            return .json(try await op.read { db in try self.projectInfo(try Project.find(name, in: db).project, db: db, live: live) })
        }
        r.add(.DELETE, "/v1/projects/{name}") { [self] req in
            let name = req.parameters["name"] ?? ""
            let force = req.query["force"] == "true"
            let target = AuditTarget(project: name)
            let op = try await authorize(req, as: .admin, action: "project.remove", target: target)
            let live = sessions.all().filter { $0.project == name }.count
            if live > 0 && !force {
                throw try await op.refuse(.conflict("live_sessions", "project '\(name)' has \(live) live session(s); wait for them, revoke them, or use --force"))
            }
            let destroyed = try await op.change { db in try Project.remove(name, in: db) }
            let ended = await endSessions(.projectRemoved, requestID: req.requestID) { $0.project == name }
            await truncateWAL(after: "project.remove")
            return .json(RemovalResult(removed: name, destroyedVersions: destroyed, endedSessions: ended))
        }
    }

    func projectInfo(_ p: Project, db: Database, live: [BuildSession]) throws -> ProjectInfo {
        let key = try SecretVersions.findActive(kind: .deployKey, owner: p.owner, in: db)
        return ProjectInfo(
            name: p.name, connection: p.connection, repo: p.repo, createdAt: p.createdAt.description,
            deployKey: key.map { self.deployKeyInfo($0, project: p.name) }, liveSessions: live.filter { $0.project == p.name }.count)
    }
}
