package import Foundation
import LatchkeyTestSupport

/// The token-minting APIs of the three servers, from their published REST references:
///
/// GitHub Enterprise Server (docs.github.com/en/enterprise-server@3.14/rest/apps/apps,
/// "Authenticating as a GitHub App"):
/// - App endpoints take `Authorization: Bearer <JWT>`: RS256 over `header.claims`, checked
///   here with the `openssl` tool against the App's public key; `iss` the App id, `iat`
///   not in the future (60 s of drift allowed), `exp` in the future and at most 10
///   minutes ahead — otherwise 401 "A JSON web token could not be decoded" or the claim's
///   message.
/// - `GET /repos/{owner}/{repo}/installation` → 200 `{id, account, app_id, permissions,
///   repository_selection}`, 404 when the App is not installed there.
/// - `POST /app/installations/{id}/access_tokens` `{repositories, permissions}` → 201
///   `{token, expires_at (1 h), permissions, repository_selection, repositories}`; 422
///   for a repository outside the installation or a permission above what it was granted.
/// - Installation tokens (`ghs_…`): `GET /repos/{owner}/{repo}` answers 200 only for the
///   token's repositories (404 otherwise); `GET /installation/repositories` lists them;
///   `DELETE /installation/token` → 204, after which the token is refused (401).
///
/// GitLab (docs.gitlab.com/ee/api/project_access_tokens.html): `POST
/// /projects/:id/access_tokens` (Maintainer, `api` scope) `{name, scopes, access_level
/// (default 40), expires_at}` → 201 with `token`; `DELETE …/access_tokens/:token_id` →
/// 204 (404 unknown); a project token reaches its own project only (`GET /projects/:id`).
///
/// Bitbucket Data Center ("HTTP access tokens", access-tokens/1.0): `PUT
/// /rest/access-tokens/1.0/projects/{key}/repos/{slug}` (REPO_ADMIN) `{name, permissions,
/// expiryDays}` → 200 `{id, name, createdDate, expiryDays, expiryDate, permissions,
/// token}`; `DELETE …/{tokenId}` → 204; a repository token is a Bearer token for its
/// repository only.
enum FakeMintedTokens {
    static func route(_ kind: FakeKind, _ r: FakeRequest, _ s: inout FakeState) -> FakeResponse? {
        switch kind {
        case .githubEnterprise: github(r, &s)
        case .gitlab: gitlab(r, &s)
        case .bitbucketServer: bitbucket(r, &s)
        }
    }

    // MARK: GitHub Enterprise

    static let gh = FakeKind.githubEnterprise

    static func github(_ r: FakeRequest, _ s: inout FakeState) -> FakeResponse? {
        guard let seg = r.segments(after: gh.apiRoot), let token = r.token else { return nil }
        // Installation tokens.
        if let i = s.mint.installationTokens.firstIndex(where: { $0.token == token }) {
            let t = s.mint.installationTokens[i]
            guard !t.revoked, t.expiresAt > Date() else { return FakeErrors.unauthorized(gh) }
            switch (r.method, seg.count, seg.first) {
            case ("DELETE", 2, "installation") where seg[1] == "token":
                s.mint.installationTokens[i].revoked = true
                return .empty(204)
            case ("GET", 2, "installation") where seg[1] == "repositories":
                let repos = t.repositories.map { ["full_name": $0, "name": String($0.split(separator: "/").last ?? "")] }
                return .json(200, ["total_count": repos.count, "repositories": repos])
            case ("GET", 3, "repos"):
                let path = seg[1] + "/" + seg[2]
                guard t.repositories.contains(where: { $0.lowercased() == path.lowercased() }), let repo = s.repository(path) else {
                    return FakeErrors.notFound(gh)
                }
                return .json(200, ["id": repo.id, "full_name": repo.path, "private": true])
            default:
                return FakeErrors.notFound(gh)
            }
        }
        // App JWTs (three base64url parts): only the App endpoints take them.
        guard token.split(separator: ".", omittingEmptySubsequences: false).count == 3 else { return nil }
        let app: FakeGitHubApp
        switch verifyJWT(token, &s) {
        case .failure(let answer): return answer
        case .success(let a): app = a
        }
        switch (r.method, seg) {
        case ("GET", let p) where p.count == 4 && p[0] == "repos" && p[3] == "installation":
            let path = p[1] + "/" + p[2]
            guard let inst = app.installations.first(where: { $0.repositories.contains { $0.lowercased() == path.lowercased() } }) else {
                return FakeErrors.notFound(gh)
            }
            return .json(200, [
                "id": inst.id, "app_id": app.id, "account": ["login": inst.account], "permissions": inst.permissions,
                "repository_selection": "selected", "access_tokens_url": "\(gh.apiRoot)/app/installations/\(inst.id)/access_tokens",
            ])
        case ("POST", let p) where p.count == 4 && p[0] == "app" && p[1] == "installations" && p[3] == "access_tokens":
            guard let inst = app.installations.first(where: { String($0.id) == p[2] }) else { return FakeErrors.notFound(gh) }
            let body = r.json ?? [:]
            var repositories = inst.repositories
            if let names = body["repositories"] as? [String] {
                repositories = []
                for n in names {
                    guard let full = inst.repositories.first(where: { $0.split(separator: "/").last.map(String.init)?.lowercased() == n.lowercased() }) else {
                        return .json(422, ["message": "There is at least one repository that does not exist or is not accessible to the parent installation.", "documentation_url": FakeErrors.githubDocs])
                    }
                    repositories.append(full)
                }
            }
            var permissions = inst.permissions
            if let asked = body["permissions"] as? [String: String], !asked.isEmpty {
                let rank = ["read": 1, "write": 2, "admin": 3]
                for (name, level) in asked {
                    guard let granted = inst.permissions[name], let g = rank[granted], let a = rank[level], a <= g else {
                        return .json(422, ["message": "The permissions requested are not granted to this installation.", "documentation_url": FakeErrors.githubDocs])
                    }
                }
                permissions = asked
            }
            s.mint.tokenCounter += 1
            let value = "ghs_" + String(format: "%036d", s.mint.tokenCounter)
            let expires = Date().addingTimeInterval(3600)
            s.mint.installationTokens.append(
                FakeInstallationToken(token: value, installationID: inst.id, repositories: repositories, permissions: permissions, expiresAt: expires))
            return .json(201, [
                "token": value, "expires_at": iso(expires), "permissions": permissions, "repository_selection": "selected",
                "repositories": repositories.map { ["full_name": $0, "name": String($0.split(separator: "/").last ?? "")] },
            ])
        default:
            return FakeErrors.notFound(gh)
        }
    }

    enum JWTCheck {
        case success(FakeGitHubApp)
        case failure(FakeResponse)
    }

    /// Checks an App JWT the way GitHub documents: header alg RS256, signature by the App's
    /// key (verified with `openssl dgst -sha256 -verify`), and the claims' times.
    static func verifyJWT(_ jwt: String, _ s: inout FakeState) -> JWTCheck {
        func refuse(_ message: String) -> JWTCheck {
            s.mint.jwtRefusals.append(message)
            return .failure(.json(401, ["message": message, "documentation_url": FakeErrors.githubDocs]))
        }
        let parts = jwt.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, let headerData = base64URLDecode(parts[0]), let claimsData = base64URLDecode(parts[1]),
            let signature = base64URLDecode(parts[2]),
            let header = (try? JSONSerialization.jsonObject(with: headerData)) as? [String: Any],
            let claims = (try? JSONSerialization.jsonObject(with: claimsData)) as? [String: Any]
        else { return refuse("A JSON web token could not be decoded") }
        guard header["alg"] as? String == "RS256" else { return refuse("A JSON web token could not be decoded") }
        let iss = (claims["iss"] as? String) ?? (claims["iss"] as? Int).map(String.init) ?? ""
        guard let app = s.mint.apps.first(where: { String($0.id) == iss }) else {
            return refuse("'Issuer' claim ('iss') must be an Integer")
        }
        // The signature, by the openssl tool with the App's public key.
        let sigPath = NSTemporaryDirectory() + "lk-jwt-\(UUID().uuidString).sig"
        FileManager.default.createFile(atPath: sigPath, contents: signature)
        defer { unlink(sigPath) }
        let r = runCaptured(
            ["openssl", "dgst", "-sha256", "-verify", app.publicKeyPath, "-signature", sigPath], stdin: Data("\(parts[0]).\(parts[1])".utf8))
        guard r.status == 0 else { return refuse("A JSON web token could not be decoded") }
        let now = Int(Date().timeIntervalSince1970)
        guard let iat = claims["iat"] as? Int, let exp = claims["exp"] as? Int else {
            return refuse("'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued")
        }
        guard iat <= now + 60 else { return refuse("'Issued at' claim ('iat') must be an Integer representing a time in the past") }
        guard exp > now else {
            return refuse("'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires")
        }
        guard exp <= now + 600, exp > iat else { return refuse("'Expiration time' claim ('exp') is too far in the future") }
        s.mint.jwtsAccepted.append(FakeJWTClaims(iss: iss, iat: iat, exp: exp, alg: "RS256"))
        return .success(app)
    }

    static func base64URLDecode(_ s: String) -> Data? {
        var t = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        guard !t.contains("=") else { return nil }
        while t.count % 4 != 0 { t += "=" }
        return Data(base64Encoded: t)
    }

    static func iso(_ d: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: d)
    }

    // MARK: GitLab

    static let gl = FakeKind.gitlab

    static func gitlab(_ r: FakeRequest, _ s: inout FakeState) -> FakeResponse? {
        guard let seg = r.segments(after: gl.apiRoot), let token = r.token else { return nil }
        // A project access token: its own project only.
        if let t = s.mint.projectTokens.first(where: { $0.token == token }) {
            guard !t.revoked, t.expiresAt >= FakeMintedTokens.day(Date()) else { return FakeErrors.unauthorized(gl) }
            guard r.method == "GET", seg.count == 2, seg[0] == "projects", let repo = s.repository(seg[1]), repo.path == t.project else {
                return FakeErrors.notFound(gl, "Project")
            }
            return .json(200, ["id": repo.id, "path_with_namespace": repo.path])
        }
        guard seg.count >= 3, seg[0] == "projects", seg[2] == "access_tokens" else { return nil }
        guard let user = s.user(token: token) else { return FakeErrors.unauthorized(gl) }
        guard (user.scopes ?? []).contains("api") else { return FakeErrors.forbiddenScope(gl, scope: "api") }
        guard let repo = s.repository(seg[1]), repo.admins.contains(user.name) || repo.readers.contains(user.name) else {
            return FakeErrors.notFound(gl, "Project")
        }
        guard repo.admins.contains(user.name) else { return FakeErrors.forbiddenRole(gl) }
        switch (r.method, seg.count) {
        case ("POST", 3):
            let body = r.json ?? [:]
            guard let name = body["name"] as? String, !name.isEmpty else { return .json(400, ["error": "name is missing"]) }
            guard let scopes = body["scopes"] as? [String], !scopes.isEmpty else { return .json(400, ["error": "scopes is missing"]) }
            let known: Set<String> = [
                "api", "read_api", "read_registry", "write_registry", "read_repository", "write_repository", "create_runner", "manage_runner",
                "ai_features", "k8s_proxy", "self_rotate", "read_observability", "write_observability",
            ]
            guard scopes.allSatisfy(known.contains) else { return .json(400, ["error": "scopes does not have a valid value"]) }
            let level = body["access_level"] as? Int ?? FakeGitLab.maintainer
            guard [10, 15, 20, 30, 40, 50].contains(level) else { return .json(400, ["error": "access_level does not have a valid value"]) }
            guard level <= FakeGitLab.maintainer else {
                return .json(400, ["message": "400 Bad request - Access level of the token can't be greater the access level of the user who created the token"])
            }
            guard let expires = body["expires_at"] as? String, expires.count == 10 else { return .json(400, ["error": "expires_at is missing"]) }
            s.mint.tokenCounter += 1
            let id = s.newID()
            let value = "glpat-" + String(format: "%020d", s.mint.tokenCounter)
            let t = FakeProjectToken(id: id, project: repo.path, name: name, scopes: scopes, accessLevel: level, expiresAt: expires, token: value)
            s.mint.projectTokens.append(t)
            return .json(201, [
                "id": id, "name": name, "scopes": scopes, "access_level": level, "expires_at": expires, "token": value, "active": true,
                "revoked": false, "user_id": s.newID(), "created_at": iso(Date()), "last_used_at": NSNull(),
            ])
        case ("GET", 3):
            return .json(200, s.mint.projectTokens.filter { $0.project == repo.path }.map {
                ["id": $0.id, "name": $0.name, "scopes": $0.scopes, "access_level": $0.accessLevel, "expires_at": $0.expiresAt, "active": !$0.revoked, "revoked": $0.revoked] as [String: Any]
            })
        case ("DELETE", 4):
            guard let i = s.mint.projectTokens.firstIndex(where: { String($0.id) == seg[3] && $0.project == repo.path && !$0.revoked }) else {
                return FakeErrors.notFound(gl)
            }
            s.mint.projectTokens[i].revoked = true
            return .empty(204)
        default:
            return FakeErrors.notFound(gl)
        }
    }

    static func day(_ d: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd"
        return f.string(from: d)
    }

    // MARK: Bitbucket Data Center

    static let bb = FakeKind.bitbucketServer

    static func bitbucket(_ r: FakeRequest, _ s: inout FakeState) -> FakeResponse? {
        guard let token = r.token, let seg = r.segments(after: "/rest") else { return nil }
        if let t = s.mint.repositoryTokens.first(where: { $0.token == token }) {
            guard !t.revoked, t.expiresAt > Date() else { return FakeErrors.unauthorized(bb) }
            guard r.method == "GET", seg.count == 6, seg[0] == "api", seg[2] == "projects", seg[4] == "repos", (seg[3] + "/" + seg[5]) == t.repository,
                let repo = s.repository(t.repository)
            else {
                return FakeErrors.bitbucket(401, "You are not permitted to access this resource", "com.atlassian.bitbucket.AuthorisationException")
            }
            return .json(200, ["id": repo.id, "slug": seg[5], "project": ["key": seg[3]]])
        }
        guard seg.count >= 6, seg[0] == "access-tokens", seg[1] == "1.0", seg[2] == "projects", seg[4] == "repos" else { return nil }
        guard let user = s.user(token: token) else { return FakeErrors.unauthorized(bb) }
        let path = seg[3] + "/" + seg[5]
        guard let repo = s.repository(path) else { return FakeErrors.notFound(bb, "Repository \(path)") }
        guard repo.admins.contains(user.name) else {
            return FakeErrors.bitbucket(401, "You are not permitted to access this resource", "com.atlassian.bitbucket.AuthorisationException")
        }
        switch (r.method, seg.count) {
        case ("PUT", 6):
            let body = r.json ?? [:]
            guard let name = body["name"] as? String, !name.isEmpty else {
                return FakeErrors.bitbucket(400, "The request does not contain a token name", "com.atlassian.bitbucket.validation.ArgumentValidationException")
            }
            guard let permissions = body["permissions"] as? [String], !permissions.isEmpty else {
                return FakeErrors.bitbucket(400, "The request does not contain a list of permissions", "com.atlassian.bitbucket.validation.ArgumentValidationException")
            }
            guard permissions.allSatisfy(["REPO_READ", "REPO_WRITE", "REPO_ADMIN"].contains) else {
                return FakeErrors.bitbucket(400, "One of the provided permission levels are unknown", "com.atlassian.bitbucket.validation.ArgumentValidationException")
            }
            let days = body["expiryDays"] as? Int
            s.mint.tokenCounter += 1
            let id = String(format: "%012d", 400_000_000_000 + s.mint.tokenCounter)
            // 44 characters of base64, like the server's.
            let value = Data(String(format: "bbdc-token-%021d", s.mint.tokenCounter).utf8).base64EncodedString()
            let created = Date()
            let expires = created.addingTimeInterval(Double(days ?? 365) * 86_400)
            s.mint.repositoryTokens.append(
                FakeRepositoryToken(id: id, repository: repo.path, name: name, permissions: permissions, expiryDays: days, expiresAt: expires, token: value))
            var o: [String: Any] = [
                "id": id, "name": name, "createdDate": Int(created.timeIntervalSince1970 * 1000), "permissions": permissions, "token": value,
                "expiryDate": Int(expires.timeIntervalSince1970 * 1000),
            ]
            if let days { o["expiryDays"] = days }
            return .json(200, o)
        case ("GET", 6):
            let values = s.mint.repositoryTokens.filter { $0.repository == repo.path && !$0.revoked }.map {
                ["id": $0.id, "name": $0.name, "permissions": $0.permissions, "expiryDate": Int($0.expiresAt.timeIntervalSince1970 * 1000)] as [String: Any]
            }
            return FakeBitbucketServer.page(r, values)
        case ("DELETE", 7):
            guard let i = s.mint.repositoryTokens.firstIndex(where: { $0.id == seg[6] && $0.repository == repo.path && !$0.revoked }) else {
                return FakeErrors.notFound(bb, "Token \(seg[6])")
            }
            s.mint.repositoryTokens[i].revoked = true
            return .empty(204)
        default:
            return FakeErrors.notFound(bb, "Resource")
        }
    }
}

/// A GitHub App registered on the fake, with its installations.
package struct FakeGitHubApp: Sendable {
    package var id: Int64
    /// The App's public key, PEM, as a file (for `openssl dgst -verify`).
    package var publicKeyPath: String
    package var installations: [FakeInstallation]
}

package struct FakeInstallation: Sendable {
    package var id: Int64
    package var account: String
    /// `owner/repo` paths the installation may reach.
    package var repositories: [String]
    /// What the App was granted there (`contents: read`).
    package var permissions: [String: String]
}

package struct FakeInstallationToken: Sendable {
    package var token: String
    package var installationID: Int64
    package var repositories: [String]
    package var permissions: [String: String]
    package var expiresAt: Date
    package var revoked = false
}

package struct FakeJWTClaims: Sendable, Equatable {
    package var iss: String
    package var iat: Int
    package var exp: Int
    package var alg: String
}

package struct FakeProjectToken: Sendable {
    package var id: Int64
    package var project: String
    package var name: String
    package var scopes: [String]
    package var accessLevel: Int
    package var expiresAt: String
    package var token: String
    package var revoked = false
}

package struct FakeRepositoryToken: Sendable {
    package var id: String
    package var repository: String
    package var name: String
    package var permissions: [String]
    package var expiryDays: Int?
    package var expiresAt: Date
    package var token: String
    package var revoked = false
}

/// The minting state of a fake (part of `FakeState`).
struct FakeMintState {
    var apps: [FakeGitHubApp] = []
    var installationTokens: [FakeInstallationToken] = []
    var projectTokens: [FakeProjectToken] = []
    var repositoryTokens: [FakeRepositoryToken] = []
    var jwtsAccepted: [FakeJWTClaims] = []
    var jwtRefusals: [String] = []
    var tokenCounter = 0
}

extension FakeSCMServer {
    /// Registers a GitHub App with its public key (PEM file) and one installation.
    package func addGitHubApp(id: Int64, publicKeyPath: String, installationID: Int64, account: String, repositories: [String], permissions: [String: String]) {
        state.withLock { s in
            s.mint.apps.append(
                FakeGitHubApp(
                    id: id, publicKeyPath: publicKeyPath,
                    installations: [FakeInstallation(id: installationID, account: account, repositories: repositories, permissions: permissions)]))
        }
    }

    /// The App's key pair replaced on the server (GitHub then refuses JWTs of the old key).
    package func setGitHubAppKey(id: Int64, publicKeyPath: String) {
        state.withLock { s in
            for i in s.mint.apps.indices where s.mint.apps[i].id == id { s.mint.apps[i].publicKeyPath = publicKeyPath }
        }
    }

    package var installationTokens: [FakeInstallationToken] { state.withLock { $0.mint.installationTokens } }
    package var projectTokens: [FakeProjectToken] { state.withLock { $0.mint.projectTokens } }
    package var repositoryTokens: [FakeRepositoryToken] { state.withLock { $0.mint.repositoryTokens } }
    package var acceptedJWTs: [FakeJWTClaims] { state.withLock { $0.mint.jwtsAccepted } }
    package var refusedJWTs: [String] { state.withLock { $0.mint.jwtRefusals } }

    /// Minted tokens the server still accepts (not revoked, not expired).
    package var liveMintedTokens: Int {
        state.withLock { s in
            s.mint.installationTokens.filter { !$0.revoked && $0.expiresAt > Date() }.count
                + s.mint.projectTokens.filter { !$0.revoked }.count + s.mint.repositoryTokens.filter { !$0.revoked }.count
        }
    }
}
