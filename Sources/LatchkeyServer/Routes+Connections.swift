import LatchkeyAPI
import LatchkeyStore

extension Vault {
    func addConnectionRoutes(_ r: inout Router) {
        r.add(.POST, "/v1/connections") { [self] req in
            let body = try req.decode(ConnectionRequest.self)
            let target = AuditTarget(connection: body.name)
            let op = try await authorize(req, as: .admin, action: "connection.add", target: target)
            guard let kind = ConnectionKind(rawValue: body.kind) else {
                throw try await op.refuse(.badRequest("invalid", "--kind must be github-enterprise, gitlab or bitbucket-server, not '\(Names.printable(body.kind))'"))
            }
            let info = try await op.change { db in
                let c = try Connection(name: body.name, kind: kind, webURL: body.url, apiURL: body.apiUrl, sshURL: body.sshUrl)
                try Connection.insert(c, in: db)
                return self.connectionInfo(c, projects: [])
            }
            return .json(info, status: .created)
        }
        r.add(.GET, "/v1/connections") { [self] req in
            let op = try await authorize(req, as: .admin, action: "connection.list", target: AuditTarget())
            return .json(try await op.read { db in
                let projects = try Project.all(in: db)
                return try Connection.all(in: db).map { c in
                    self.connectionInfo(c, projects: projects.filter { $0.connection == c.name }.map(\.name))
                }
            })
        }
        r.add(.GET, "/v1/connections/{name}") { [self] req in
            let name = req.parameters["name"] ?? ""
            let op = try await authorize(req, as: .admin, action: "connection.show", target: AuditTarget(connection: name))
            return .json(try await op.read { db in
                let (_, c) = try Connection.find(name, in: db)
                return self.connectionInfo(c, projects: try Project.all(in: db).filter { $0.connection == c.name }.map(\.name))
            })
        }
        r.add(.POST, "/v1/connections/{name}/ca") { [self] req in try await createCertificateAuthority(req, rotate: false) }
        r.add(.POST, "/v1/connections/{name}/ca/rotate") { [self] req in try await createCertificateAuthority(req, rotate: true) }
        r.add(.GET, "/v1/connections/{name}/ca") { [self] req in try await listCertificateAuthorities(req) }
        r.add(.POST, "/v1/connections/{name}/ca/revoke") { [self] req in try await revokeCertificateAuthority(req) }
        r.add(.PATCH, "/v1/connections/{name}/certificate-settings") { [self] req in try await setCertificateSettings(req) }
        r.add(.DELETE, "/v1/connections/{name}") { [self] req in
            let name = req.parameters["name"] ?? ""
            let target = AuditTarget(connection: name)
            let op = try await authorize(req, as: .admin, action: "connection.remove", target: target)
            let destroyed = try await op.change { db in
                let before = try SecretVersions.list(kinds: [.token, .oauthClient], ownerPrefix: "connection:\(name)", in: db)
                    .filter { $0.owner == "connection:\(name)" }.count
                try Connection.remove(name, in: db)
                return before
            }
            let ended = await endSessions(.connectionRemoved, requestID: req.requestID) { $0.connection == name }
            return .json(RemovalResult(removed: name, destroyedVersions: destroyed, endedSessions: ended))
        }
    }

    func connectionInfo(_ c: Connection, projects: [String]) -> ConnectionInfo {
        ConnectionInfo(
            name: c.name, kind: c.kind.rawValue, url: c.webURL, apiUrl: c.apiURL, sshUrl: c.sshURL,
            createdAt: c.createdAt.description, projects: projects)
    }
}
