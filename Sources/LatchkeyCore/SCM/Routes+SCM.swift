import LatchkeyAPI
import LatchkeySCM
import LatchkeyStore

extension Vault {
    /// `PATCH /v1/connections/{name}`: the CA file its API is trusted by.
    func setConnection(_ op: inout Operation, _ body: ConnectionUpdateRequest) async throws -> ConnectionInfo {
        let name = op.request.parameters["name"] ?? ""
        op.target = AuditTarget(connection: name)
        let caFile = body.caFile.flatMap { $0.isEmpty ? nil : $0 }
        if let caFile {
            do throws(SCMError) { try scmTransports.validateCAFile(caFile, connection: name) } catch { throw APIError.scm(error) }
        }
        return try await op.change { db in
            let c = try Connection.setCAFile(name, caFile, in: db)
            return self.connectionInfo(c, projects: try Project.all(in: db).filter { $0.connection == c.name }.map(\.name))
        }
    }

    /// `POST /v1/connections/{name}/verify`: what the server says about the active token.
    func verifyConnection(_ op: inout Operation) async throws -> ConnectionVerifyResult {
        let name = op.request.parameters["name"] ?? ""
        op.target = AuditTarget(connection: name, kind: "token")
        let session = try await scmSession(name, requestID: op.request.requestID)
        op.target.version = session.tokenVersion
        let needs = try await scmNeeds(name)
        let report: SCMTokenReport
        do throws(SCMError) {
            report = try await session.adapter.verifyToken(session.token, needs: needs)
        } catch {
            throw APIError.scm(error)
        }
        // What the server said is what `token list` shows from now on (in this request's
        // own transaction, with its row).
        let record = TokenVerificationRecord(
            state: !report.active ? .rejected : report.missing.isEmpty ? .ok : .missingScopes, checkedAt: .now(), user: report.user,
            scopes: report.scopes, expiresAt: report.expiresAt, missing: report.missing)
        let owner = "connection:\(name)"
        let version = session.tokenVersion
        try await op.change { db in try TokenVerifications.save(record, owner: owner, version: version, in: db) }
        return ConnectionVerifyResult(
            connection: name, user: report.user, scopes: report.scopes, expiresAt: report.expiresAt, missing: report.missing, ok: report.ok,
            notes: report.notes, tokenVersion: session.tokenVersion)
    }
}
