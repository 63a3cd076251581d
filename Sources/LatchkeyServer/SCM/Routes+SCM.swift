import LatchkeyAPI
import LatchkeySCM
import LatchkeyStore

extension Vault {
    func addSCMRoutes(_ r: inout Router) {
        r.add(.PATCH, "/v1/connections/{name}") { [self] req in
            let name = req.parameters["name"] ?? ""
            let body = try req.decode(ConnectionUpdateRequest.self)
            let op = try await authorize(req, as: .admin, action: "connection.set", target: AuditTarget(connection: name))
            let caFile = body.caFile.flatMap { $0.isEmpty ? nil : $0 }
            if let caFile {
                do throws(SCMError) { try SCMClient.validateCAFile(caFile, connection: name) } catch { throw try await op.refuse(.scm(error)) }
            }
            let info = try await op.change { db in
                let c = try Connection.setCAFile(name, caFile, in: db)
                return self.connectionInfo(c, projects: try Project.all(in: db).filter { $0.connection == c.name }.map(\.name))
            }
            return .json(info)
        }
        r.add(.POST, "/v1/connections/{name}/verify") { [self] req in
            let name = req.parameters["name"] ?? ""
            let op = try await authorize(req, as: .admin, action: "connection.verify", target: AuditTarget(connection: name))
            let result = try await verifyConnection(name, op: op, requestID: req.requestID)
            try await op.record(result.ok ? .granted : .failed, reason: result.ok ? nil : "token_missing_permissions")
            return .json(result)
        }
    }

    /// Asks the server about the connection's active token. A refusal or failure of the
    /// server is recorded on `op` and thrown.
    func verifyConnection(_ name: String, op: Operation, requestID: String?) async throws -> ConnectionVerifyResult {
        let session: SCMSession
        do {
            session = try await scmSession(name, requestID: requestID)
        } catch let e as APIError {
            throw try await op.refuse(e)
        } catch {
            throw try await op.refuse(APIError.from(error) ?? .internalFault)
        }
        let needs = try await scmNeeds(name)
        let report: SCMTokenReport
        do throws(SCMError) {
            report = try await session.adapter.verifyToken(session.token, needs: needs)
        } catch {
            throw try await op.refuse(.scm(error))
        }
        return ConnectionVerifyResult(
            connection: name, user: report.user, scopes: report.scopes, expiresAt: report.expiresAt, missing: report.missing, ok: report.ok,
            notes: report.notes, tokenVersion: session.tokenVersion)
    }
}
