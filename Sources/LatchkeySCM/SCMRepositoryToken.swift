package import LatchkeyCrypto
package import Foundation

/// A repository token a server minted for one build session (grant `repo-token`).
package struct SCMMintedToken: Sendable {
    /// The token, in guarded memory.
    package var token: SecretBytes
    /// The server's id for it: GitLab's and Bitbucket's token id; for a GitHub App
    /// installation token, which has none, `installation:<id>`.
    package var id: String
    /// When the server expires it (RFC 3339 time, or GitLab's `YYYY-MM-DD`).
    package var expiresAt: String
    /// What the server says it carries, in Latchkey's permission notation.
    package var permissions: [String]
}

/// What is asked of the server for a session's token.
package struct SCMTokenMintRequest: Sendable, Equatable {
    /// The repository (`owner/repo`, `group/sub/repo`, `KEY/slug`).
    package var repository: String
    /// The token's name on servers that name tokens (`latchkey-<session id>`).
    package var name: String
    /// The permissions, in Latchkey's notation (`contents:read`, `read_repository`,
    /// `reporter`, `REPO_READ`), already checked against the policy.
    package var permissions: [String]

    package init(repository: String, name: String, permissions: [String]) {
        self.repository = repository
        self.name = name
        self.permissions = permissions
    }
}

extension SecretBytes {
    /// A token a server sent as a JSON string, copied into guarded memory.
    static func fromServer(_ text: String) throws(SCMError) -> SecretBytes {
        var bytes = Array(text.utf8)
        do {
            return try SecretBytes(consuming: &bytes)
        } catch {
            throw SCMError(.badResponse, "no guarded memory for the minted token")
        }
    }
}

// MARK: GitHub Enterprise: GitHub App installation tokens

/// GitHub Enterprise Server (docs.github.com/en/enterprise-server@3.14/rest/apps/apps):
/// - `GET /repos/{owner}/{repo}/installation` ("Get a repository installation for the
///   authenticated app"), authenticated with the App JWT → 200 with the installation's
///   `id`; 404 when the App is not installed on the repository.
/// - `POST /app/installations/{installation_id}/access_tokens` ("Create an installation
///   access token for an app"), App JWT, body `{"repositories": [name], "permissions":
///   {name: level}}` → 201 `{"token", "expires_at", "permissions", "repository_selection",
///   "repositories"}`; 422 when a permission is more than the installation was granted.
///   The token lives one hour.
/// - `DELETE /installation/token` ("Revoke an installation access token"), authenticated
///   with the installation token itself → 204.
extension GitHubEnterpriseAdapter {
    private var appHint: String {
        "install the connection's GitHub App on the repository, with the permissions the session asks for (see `latchkey connection app list`)"
    }

    /// The installation of the App on `repository`.
    package func findInstallation(repository: String, jwt: SecretBytes) async throws(SCMError) -> String {
        let request = SCMRequest(.GET, "/repos" + SCMPath.segments(repository) + "/installation", purpose: "find the GitHub App's installation on \(repository)")
        let r = try await client.call(request, token: jwt, expect: [200], hint: appHint)
        guard let id = r.json()?["id"]?.id else {
            throw SCMError(.badResponse, "\(client.name) answered \(request.summary) without the installation's id")
        }
        return id
    }

    /// An installation token for `repository` alone, with `permissions` (`contents:read`).
    package func mintInstallationToken(installationID: String, _ ask: SCMTokenMintRequest, jwt: SecretBytes) async throws(SCMError) -> SCMMintedToken {
        var permissions: [String: JSONValue] = [:]
        for p in ask.permissions {
            let parts = p.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            permissions[parts[0]] = .string(parts[1])
        }
        let name = String(ask.repository.split(separator: "/").last ?? "")
        let body = JSONValue.object(["repositories": .array([.string(name)]), "permissions": .object(permissions)])
        let request = SCMRequest(
            .POST, "/app/installations/" + SCMPath.segment(installationID) + "/access_tokens", body: body.encoded,
            purpose: "mint a token for \(ask.repository)")
        let r = try await client.call(request, token: jwt, expect: [201], hint: appHint)
        guard let json = r.json(), let token = json["token"]?.string, !token.isEmpty, let expires = json["expires_at"]?.string else {
            throw SCMError(.badResponse, "\(client.name) answered \(request.summary) without a token and its expiry")
        }
        let granted = (json["permissions"]?.object ?? [:]).compactMap { k, v in v.string.map { "\(k):\($0)" } }.sorted()
        return SCMMintedToken(token: try .fromServer(token), id: "installation:\(installationID)", expiresAt: expires, permissions: granted)
    }

    /// Revokes an installation token with itself. 401: it is no longer valid (revoked
    /// already, or expired), which is what revocation wants.
    package func revokeInstallationToken(_ token: SecretBytes) async throws(SCMError) {
        _ = try await client.call(SCMRequest(.DELETE, "/installation/token", purpose: "revoke a session's installation token"), token: token, expect: [204, 401])
    }
}

// MARK: GitLab: project access tokens

/// GitLab (docs.gitlab.com/ee/api/project_access_tokens.html):
/// - `POST /projects/:id/access_tokens` `{"name", "scopes", "access_level", "expires_at":
///   "YYYY-MM-DD"}` → 201 `{"id", "name", "scopes", "access_level", "expires_at", "token",
///   "active", "revoked"}`. The connection's token needs the `api` scope and its user the
///   Maintainer role (or higher) on the project, and at least the access level it gives.
/// - `DELETE /projects/:id/access_tokens/:token_id` → 204; 404 once it is gone.
/// GitLab expires tokens by date (at midnight UTC): the token is made to expire the next
/// day, and revoked when the session ends.
extension GitLabAdapter {
    private var tokenHint: String {
        "the connection's token needs the api scope and its user the Maintainer role on the project (and at least the role the session asks for)"
    }

    package func mintProjectAccessToken(_ ask: SCMTokenMintRequest, token: SecretBytes, now: Date = Date()) async throws(SCMError) -> SCMMintedToken {
        var scopes: [JSONValue] = []
        var accessLevel: Int64 = 20
        for p in ask.permissions {
            if let level = GitLabAdapter.roleLevels[p] { accessLevel = level } else { scopes.append(.string(p)) }
        }
        let tomorrow = Self.utcDay(now.addingTimeInterval(86_400))
        let body = JSONValue.object([
            "name": .string(ask.name), "scopes": .array(scopes), "access_level": .int(accessLevel), "expires_at": .string(tomorrow),
        ])
        let request = SCMRequest(
            .POST, "/projects/" + SCMPath.segment(ask.repository) + "/access_tokens", body: body.encoded, purpose: "mint a token for \(ask.repository)")
        let r = try await client.call(request, token: token, expect: [201], hint: tokenHint)
        guard let json = r.json(), let value = json["token"]?.string, !value.isEmpty, let id = json["id"]?.id else {
            throw SCMError(.badResponse, "\(client.name) answered \(request.summary) without the token and its id")
        }
        var granted = (json["scopes"]?.array ?? []).compactMap(\.string)
        if let level = json["access_level"]?.int, let role = GitLabAdapter.roleLevels.first(where: { $0.value == level })?.key { granted.append(role) }
        return SCMMintedToken(token: try .fromServer(value), id: id, expiresAt: json["expires_at"]?.string ?? tomorrow, permissions: granted)
    }

    /// The project's active access tokens (all pages): id and name.
    package func listProjectAccessTokens(repository: String, token: SecretBytes) async throws(SCMError) -> [(id: String, name: String)] {
        var out: [(id: String, name: String)] = []
        var page = 1
        while page <= SCMPaging.maxPages {
            let request = SCMRequest(
                .GET, "/projects/" + SCMPath.segment(repository) + "/access_tokens", query: [("state", "active"), ("per_page", "100"), ("page", String(page))],
                purpose: "list project access tokens")
            let r = try await client.call(request, token: token, expect: [200], hint: tokenHint)
            let items = r.json()?.array ?? []
            for t in items where t["active"]?.bool != false {
                if let id = t["id"]?.id { out.append((id, t["name"]?.string ?? "")) }
            }
            guard let next = r.header("x-next-page"), !next.isEmpty, items.count == 100 else { break }
            page += 1
        }
        return out
    }

    package func revokeProjectAccessToken(id: String, repository: String, token: SecretBytes) async throws(SCMError) {
        let request = SCMRequest(
            .DELETE, "/projects/" + SCMPath.segment(repository) + "/access_tokens/" + SCMPath.segment(id), purpose: "revoke a session's project access token")
        _ = try await client.call(request, token: token, expect: [204, 404], hint: tokenHint)
    }

    static let roleLevels: [String: Int64] = ["guest": 10, "planner": 15, "reporter": 20, "developer": 30, "maintainer": 40, "owner": 50]

    static func utcDay(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd"
        return f.string(from: date)
    }
}

// MARK: Bitbucket Server / Data Center: repository HTTP access tokens

/// Bitbucket Data Center (developer.atlassian.com/server/bitbucket/rest, "Authentication
/// → HTTP access tokens", since 7.x):
/// - `PUT /rest/access-tokens/1.0/projects/{projectKey}/repos/{repositorySlug}` `{"name",
///   "permissions": ["REPO_READ"], "expiryDays": 1}` → 200 `{"id", "name", "createdDate",
///   "expiryDate" (ms since the epoch), "permissions", "token"}`. The connection's token
///   needs REPO_ADMIN on the repository.
/// - `DELETE /rest/access-tokens/1.0/projects/{projectKey}/repos/{repositorySlug}/{tokenId}`
///   → 204; 404 once it is gone.
extension BitbucketServerAdapter {
    private func tokensPath(_ repository: String) -> String {
        let p = repository.split(separator: "/", maxSplits: 1).map(String.init)
        return "/access-tokens/1.0/projects/\(SCMPath.segment(p.first ?? ""))/repos/\(SCMPath.segment(p.count > 1 ? p[1] : ""))"
    }

    private var tokenHint: String { "the connection's token needs REPO_ADMIN on the repository" }

    package func mintRepositoryAccessToken(_ ask: SCMTokenMintRequest, token: SecretBytes) async throws(SCMError) -> SCMMintedToken {
        let body = JSONValue.object([
            "name": .string(ask.name), "permissions": .array(ask.permissions.map(JSONValue.string)), "expiryDays": .int(1),
        ])
        let request = SCMRequest(.PUT, tokensPath(ask.repository), body: body.encoded, purpose: "mint a token for \(ask.repository)")
        let r = try await client.call(request, token: token, expect: [200, 201], hint: tokenHint)
        guard let json = r.json(), let value = json["token"]?.string, !value.isEmpty, let id = json["id"]?.string ?? json["id"]?.id else {
            throw SCMError(.badResponse, "\(client.name) answered \(request.summary) without the token and its id")
        }
        let expires = json["expiryDate"]?.int.map { Self.rfc3339(milliseconds: $0) } ?? ""
        return SCMMintedToken(
            token: try .fromServer(value), id: id, expiresAt: expires, permissions: (json["permissions"]?.array ?? []).compactMap(\.string))
    }

    /// The repository's HTTP access tokens (all pages): id and name.
    package func listRepositoryAccessTokens(repository: String, token: SecretBytes) async throws(SCMError) -> [(id: String, name: String)] {
        var out: [(id: String, name: String)] = []
        var start = 0
        for _ in 0..<SCMPaging.maxPages {
            let request = SCMRequest(.GET, tokensPath(repository), query: [("start", String(start)), ("limit", "100")], purpose: "list HTTP access tokens")
            let r = try await client.call(request, token: token, expect: [200], hint: tokenHint)
            guard let json = r.json() else { break }
            for t in json["values"]?.array ?? [] {
                if let id = t["id"]?.string ?? t["id"]?.id { out.append((id, t["name"]?.string ?? "")) }
            }
            guard json["isLastPage"]?.bool == false, let next = json["nextPageStart"]?.int else { break }
            start = Int(next)
        }
        return out
    }

    package func revokeRepositoryAccessToken(id: String, repository: String, token: SecretBytes) async throws(SCMError) {
        let request = SCMRequest(.DELETE, tokensPath(repository) + "/" + SCMPath.segment(id), purpose: "revoke a session's HTTP access token")
        _ = try await client.call(request, token: token, expect: [204, 404], hint: tokenHint)
    }

    static func rfc3339(milliseconds: Int64) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
    }
}
