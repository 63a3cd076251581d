import Foundation
package import LatchkeyAPI
package import LatchkeyCrypto
import LatchkeySCM
package import LatchkeyStore

/// A connection's GitHub App (kind `github-app`, owner `connection:<name>`): its RSA
/// private key sealed like a token — versions, grace, revoke — with the App id and an
/// optional pinned installation id in the version's bound attributes. The key is taken
/// sealed to the intake key, checked loadable as RSA by OpenSSL before it is stored,
/// and never answered; its public fingerprint is.
extension Vault {
    /// Largest sealed App key accepted (a PEM of an 8192-bit RSA key fits).
    static let maxSealedAppKeyBytes = GitHubAppKey.maxPEMBytes + IntakeKeyPair.sealOverheadBytes

    /// `POST /v1/connections/{name}/app`.
    func putGitHubApp(_ op: inout Operation, _ body: GitHubAppPutRequest) async throws -> GitHubAppInfo {
        let name = op.request.parameters["name"] ?? ""
        op.target = AuditTarget(connection: name, kind: SecretKind.githubApp.rawValue)
        let graceSeconds = body.graceSeconds ?? Self.defaultGrace.components.seconds
        guard (0...Self.maxGraceSeconds).contains(graceSeconds) else { throw APIError.invalid("grace must be between 0 s and 30 days") }
        guard let sealed = Data(base64Encoded: body.sealedKey), sealed.count <= Self.maxSealedAppKeyBytes else {
            throw APIError.invalid("sealedKey is not base64 of a sealed box (or is over \(Self.maxSealedAppKeyBytes) bytes)")
        }
        let kind = try await store.database.read { db in try Connection.find(name, in: db).connection.kind }
        guard kind == .githubEnterprise else {
            throw APIError.invalid("connection '\(name)' is \(kind.rawValue); GitHub Apps are for GitHub Enterprise connections (GitLab and Bitbucket mint with the connection's token)")
        }
        let pem: SecretBytes
        do {
            pem = try keyRing.intake.open(Array(sealed))
        } catch {
            throw APIError(.sealOpenFailed, "the sealed key did not open: it was altered, or sealed to another daemon's intake key (see `latchkey intake-key`)")
        }
        let key: GitHubAppKey
        do throws(SCMError) {
            key = try GitHubAppKey(pem: pem)
        } catch {
            throw APIError.invalid(error.message)
        }
        let version = try await op.change { db in
            let (connectionID, c) = try Connection.find(name, in: db)
            return try SecretVersions.add(
                kind: .githubApp, owner: Self.connectionOwner(c.name), connectionID: connectionID, grace: .seconds(graceSeconds), keyRing: self.keyRing,
                in: db
            ) { _ in
                var attributes = ["app_id": body.appId, "fingerprint": key.fingerprint, "bits": String(key.bits)]
                attributes["installation_id"] = body.installationId
                return (pem, attributes)
            }
        }
        return gitHubAppInfo(version, connection: name)
    }

    /// `GET /v1/connections/{name}/app`: every version, oldest first.
    func listGitHubApps(_ op: inout Operation) async throws -> [GitHubAppInfo] {
        let name = op.request.parameters["name"] ?? ""
        op.target = AuditTarget(connection: name, kind: SecretKind.githubApp.rawValue)
        return try await op.read { db in
            _ = try Connection.find(name, in: db)
            return try SecretVersions.list(kind: .githubApp, owner: Self.connectionOwner(name), in: db).map { self.gitHubAppInfo($0, connection: name) }
        }
    }

    /// `POST /v1/connections/{name}/app/revoke`: a version (default: every live one) is
    /// destroyed; the connection's live `repo-token` sessions whose token it minted end,
    /// and their tokens are revoked on the server.
    func revokeGitHubApps(_ op: inout Operation, _ body: RevokeRequest) async throws -> RevokeResult {
        let name = op.request.parameters["name"] ?? ""
        op.target = AuditTarget(connection: name, kind: SecretKind.githubApp.rawValue, version: body.version)
        let revoked = try await op.change { db in
            _ = try Connection.find(name, in: db)
            return try SecretVersions.revoke(kind: .githubApp, owner: Self.connectionOwner(name), version: body.version, in: db)
        }
        let gone = Set(revoked)
        let minted = mintedTokens
        let ended = await endSessions(.tokenRevoked, requestID: op.request.requestID) { s in
            s.connection == name && s.grants.contains(.repoToken) && (minted.current(s.id)?.appVersion.map { gone.contains($0) } ?? false)
        }
        await truncateWAL(after: "github-app.revoke")
        return RevokeResult(revokedVersions: revoked, endedSessions: ended)
    }

    func gitHubAppInfo(_ v: SecretVersion, connection: String) -> GitHubAppInfo {
        GitHubAppInfo(
            connection: connection, version: v.version, appId: v.attributes["app_id"] ?? "", installationId: v.attributes["installation_id"],
            fingerprint: v.attributes["fingerprint"] ?? "", bits: Int(v.attributes["bits"] ?? "") ?? 0, state: v.state.rawValue,
            retireAt: v.state == .retiring ? v.retireAt?.description : nil, revokedAt: v.revokedAt?.description, createdAt: v.createdAt.description)
    }
}
