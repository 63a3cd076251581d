package import LatchkeyAPI
package import LatchkeyStore
import LatchkeySCM

extension Vault {
    func addConnection(_ op: inout Operation, _ body: ConnectionRequest) async throws -> ConnectionInfo {
        op.target = AuditTarget(connection: body.name)
        guard let kind = ConnectionKind(rawValue: body.kind) else {
            throw APIError.invalid("--kind must be github-enterprise, gitlab or bitbucket-server, not '\(Names.printable(body.kind))'")
        }
        if let caFile = body.caFile {
            do throws(SCMError) { try scmTransports.validateCAFile(caFile, connection: body.name) } catch { throw APIError.scm(error) }
        }
        return try await op.change { db in
            let c = try Connection(name: body.name, kind: kind, webURL: body.url, apiURL: body.apiUrl, sshURL: body.sshUrl, caFile: body.caFile)
            try Connection.insert(c, in: db)
            return self.connectionInfo(c, projects: [])
        }
    }

    func listConnections(_ op: inout Operation) async throws -> [ConnectionInfo] {
        try await op.read { db in
            let projects = try Project.all(in: db)
            return try Connection.all(in: db).map { c in
                self.connectionInfo(c, projects: projects.filter { $0.connection == c.name }.map(\.name))
            }
        }
    }

    func showConnection(_ op: inout Operation) async throws -> ConnectionInfo {
        let name = op.request.parameters["name"] ?? ""
        op.target = AuditTarget(connection: name)
        return try await op.read { db in
            let (_, c) = try Connection.find(name, in: db)
            return self.connectionInfo(c, projects: try Project.all(in: db).filter { $0.connection == c.name }.map(\.name))
        }
    }

    func removeConnection(_ op: inout Operation) async throws -> RemovalResult {
        let name = op.request.parameters["name"] ?? ""
        op.target = AuditTarget(connection: name)
        let destroyed = try await op.change { db in
            let before = try SecretVersions.list(kinds: [.token, .oauthClient, .certificateAuthority], owner: "connection:\(name)", in: db).count
            try Connection.remove(name, in: db)
            return before
        }
        let ended = await endSessions(.connectionRemoved, requestID: op.request.requestID) { $0.connection == name }
        await truncateWAL(after: "connection.remove")
        return RemovalResult(removed: name, destroyedVersions: destroyed, endedSessions: ended)
    }

    func connectionInfo(_ c: Connection, projects: [String]) -> ConnectionInfo {
        ConnectionInfo(
            name: c.name, kind: c.kind.rawValue, url: c.webURL, apiUrl: c.apiURL, sshUrl: c.sshURL,
            createdAt: c.createdAt.description, projects: projects, caFile: c.caFile)
    }
}
