package import LatchkeyCrypto
import Foundation

/// GitHub Enterprise Server's REST API under `/api/v3`, as documented at
/// https://docs.github.com/en/enterprise-server@3.14/rest :
/// - `GET /user` (users#get-the-authenticated-user): the token's `login`; a classic
///   token's scopes come in the `X-OAuth-Scopes` header, a fine-grained token has none
///   (the header is absent), and an expiring token's end in
///   `GitHub-Authentication-Token-Expiration` (`2026-12-31 00:00:00 UTC`).
/// - `GET /repos/{owner}/{repo}` (repos#get-a-repository): `permissions.admin|push|pull`
///   of the token's user.
/// - Deploy keys (deploy-keys/deploy-keys): `POST /repos/{owner}/{repo}/keys`
///   `{"title","key","read_only"}` → 201 with `id`; 422 "Validation Failed" with
///   `errors[].message` "key is already in use"; `GET …/keys?per_page=100&page=N` with a
///   `Link: <…>; rel="next"` header while more pages follow; `DELETE …/keys/{key_id}` → 204.
/// - Webhooks (repos/webhooks): `POST /repos/{owner}/{repo}/hooks` `{"name":"web",
///   "active","events","config":{"url","content_type":"json","secret","insecure_ssl":"0"}}`
///   → 201 with `id`; `PATCH …/hooks/{hook_id}` → 200; `DELETE …/hooks/{hook_id}` → 204.
/// Classic tokens need `repo` for deploy keys (and `admin:repo_hook`, `write:repo_hook`
/// or `repo` for webhooks); the user needs admin on the repository.
package struct GitHubEnterpriseAdapter: SCMServerAdapter {
    package let client: any SCMTransport

    package init(client: any SCMTransport) { self.client = client }

    static let hookScopes: Set<String> = ["repo", "admin:repo_hook", "write:repo_hook"]

    private func repoPath(_ repository: String) -> String { "/repos" + SCMPath.segments(repository) }

    package func verifyToken(_ token: SecretBytes, needs: [SCMRepositoryNeeds]) async throws(SCMError) -> SCMTokenReport {
        let me = try await client.call(
            SCMRequest(.GET, "/user", purpose: "verify the token"), token: token, expect: [200])
        guard let login = me.json()?["login"]?.string else {
            throw SCMError(.badResponse, "\(client.name) answered GET /user without a login")
        }
        let scopeHeader = me.header("x-oauth-scopes")
        let scopes = scopeHeader.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
        var notes: [String] = []
        if scopes == nil {
            notes.append("fine-grained token: GitHub lists no scopes for it; its user's repository permissions were checked, not the token's own")
        }
        var missing: [String] = []
        for need in needs where need.installDeployKey || need.webhooks {
            if let scopes {
                if need.installDeployKey, !scopes.contains("repo") {
                    missing.append("scope repo (deploy keys on \(need.repository))")
                }
                if need.webhooks, Self.hookScopes.isDisjoint(with: scopes) {
                    missing.append("scope admin:repo_hook (webhooks on \(need.repository))")
                }
            }
            let request = SCMRequest(.GET, repoPath(need.repository), purpose: "check the token's permission on \(need.repository)")
            let r = try await client.send(request, token: token)
            switch r.status {
            case 200:
                if r.json()?["permissions"]?["admin"]?.bool != true {
                    missing.append("admin on \(need.repository)")
                }
            case 401: throw client.failure(r, for: request)
            case 403, 404: missing.append("access to \(need.repository) (the token's user cannot see it)")
            default: throw client.failure(r, for: request)
            }
        }
        return SCMTokenReport(
            user: login, scopes: scopes, expiresAt: me.header("github-authentication-token-expiration").flatMap(Self.rfc3339),
            missing: missing, notes: notes)
    }

    /// `2026-12-31 00:00:00 UTC` → `2026-12-31T00:00:00Z`.
    static func rfc3339(_ s: String) -> String? {
        let parts = s.split(separator: " ")
        guard parts.count >= 2, parts[0].count == 10, parts[1].count == 8 else { return nil }
        return "\(parts[0])T\(parts[1])Z"
    }

    private var keyHint: String {
        "the token needs the repo scope (classic) or Administration: write (fine-grained), and its user admin on the repository"
    }

    package func installDeployKey(_ key: SCMDeployKey, repository: String, token: SecretBytes) async throws(SCMError) -> SCMInstalledKey {
        try key.checkType(for: client.connection)
        let body = JSONValue.object(["title": .string(key.title), "key": .string(key.publicKey), "read_only": .bool(!key.write)])
        let request = SCMRequest(.POST, repoPath(repository) + "/keys", body: body.encoded, purpose: "install deploy key \(key.title)")
        let r = try await client.send(request, token: token)
        if r.status == 422, ServerMessage.summary(of: r).contains("already in use") {
            throw client.failure(
                r, for: request,
                hint: "this public key is already installed on \(client.connection.name), on a repository other than \(repository) or a user's account; remove it there, or rotate the project's key",
                code: .keyInUse)
        }
        guard r.status == 201 else { throw client.failure(r, for: request, hint: r.status == 403 || r.status == 404 ? keyHint : nil) }
        guard let id = r.json()?["id"]?.id else {
            throw SCMError(.badResponse, "\(client.name) answered \(request.summary) without the key's id")
        }
        return SCMInstalledKey(id: id, title: key.title, publicKey: key.publicKey)
    }

    package func listDeployKeys(repository: String, token: SecretBytes) async throws(SCMError) -> [SCMInstalledKey] {
        var keys: [SCMInstalledKey] = []
        var page = 1
        while page <= SCMPaging.maxPages {
            let request = SCMRequest(
                .GET, repoPath(repository) + "/keys", query: [("per_page", "100"), ("page", String(page))], purpose: "list deploy keys")
            let r = try await client.call(request, token: token, expect: [200], hint: keyHint)
            for k in r.json()?.array ?? [] {
                guard let id = k["id"]?.id else { continue }
                keys.append(SCMInstalledKey(id: id, title: k["title"]?.string ?? "", publicKey: k["key"]?.string ?? ""))
            }
            guard SCMPaging.linkHasNext(r.header("link")) else { break }
            page += 1
        }
        return keys
    }

    package func removeDeployKey(id: String, repository: String, token: SecretBytes) async throws(SCMError) {
        let request = SCMRequest(.DELETE, repoPath(repository) + "/keys/" + SCMPath.segment(id), purpose: "remove deploy key \(id)")
        _ = try await client.call(request, token: token, expect: [204, 404], hint: keyHint)
    }

    static func events(_ events: [String]) -> [JSONValue] {
        var out: [String] = []
        for e in events {
            let mapped = e == "tag" ? "create" : e
            if !out.contains(mapped) { out.append(mapped) }
        }
        return out.map(JSONValue.string)
    }

    private func hookBody(_ hook: SCMWebhook, secret: SecretBytes, create: Bool) -> [UInt8] {
        var o: [String: JSONValue] = [
            "active": .bool(true),
            "events": .array(Self.events(hook.events)),
            "config": .object([
                "url": .string(hook.url), "content_type": .string("json"), "secret": .string(secret.utf8Text()),
                "insecure_ssl": .string("0"),
            ]),
        ]
        if create { o["name"] = .string("web") }
        return JSONValue.object(o).encoded
    }

    private var hookHint: String {
        "the token needs the admin:repo_hook scope (classic) or Webhooks: write (fine-grained), and its user admin on the repository"
    }

    /// A webhook call: the hint about scopes and roles only where the server said no to them.
    private func hookCall(_ request: SCMRequest, token: SecretBytes, expect: Set<Int>) async throws(SCMError) -> SCMResponse {
        let r = try await client.send(request, token: token)
        guard expect.contains(r.status) else { throw client.failure(r, for: request, hint: [401, 403, 404].contains(r.status) ? hookHint : nil) }
        return r
    }

    package func installWebhook(_ hook: SCMWebhook, repository: String, secret: SecretBytes, token: SecretBytes) async throws(SCMError) -> String {
        let request = SCMRequest(.POST, repoPath(repository) + "/hooks", body: hookBody(hook, secret: secret, create: true), purpose: "install webhook")
        let r = try await hookCall(request, token: token, expect: [201])
        guard let id = r.json()?["id"]?.id else { throw SCMError(.badResponse, "\(client.name) answered \(request.summary) without the hook's id") }
        return id
    }

    package func updateWebhook(id: String, _ hook: SCMWebhook, repository: String, secret: SecretBytes, token: SecretBytes) async throws(SCMError) {
        let request = SCMRequest(
            .PATCH, repoPath(repository) + "/hooks/" + SCMPath.segment(id), body: hookBody(hook, secret: secret, create: false),
            purpose: "set webhook \(id)'s secret")
        _ = try await hookCall(request, token: token, expect: [200])
    }

    package func removeWebhook(id: String, repository: String, token: SecretBytes) async throws(SCMError) {
        let request = SCMRequest(.DELETE, repoPath(repository) + "/hooks/" + SCMPath.segment(id), purpose: "remove webhook \(id)")
        _ = try await hookCall(request, token: token, expect: [204, 404])
    }

    package func listWebhooks(repository: String, token: SecretBytes) async throws(SCMError) -> [SCMInstalledWebhook] {
        var hooks: [SCMInstalledWebhook] = []
        var page = 1
        while page <= SCMPaging.maxPages {
            let request = SCMRequest(
                .GET, repoPath(repository) + "/hooks", query: [("per_page", "100"), ("page", String(page))], purpose: "list webhooks")
            let r = try await hookCall(request, token: token, expect: [200])
            for h in r.json()?.array ?? [] {
                guard let id = h["id"]?.id else { continue }
                hooks.append(SCMInstalledWebhook(id: id, url: h["config"]?["url"]?.string ?? ""))
            }
            guard SCMPaging.linkHasNext(r.header("link")) else { break }
            page += 1
        }
        return hooks
    }
}

/// Pagination helpers shared by the adapters.
package enum SCMPaging {
    /// A bound on pages read for one listing (100 items a page on every server).
    package static let maxPages = 50

    /// RFC 8288 `Link` header: is there a `rel="next"`?
    package static func linkHasNext(_ link: String?) -> Bool {
        guard let link else { return false }
        return link.split(separator: ",").contains { part in
            part.split(separator: ";").dropFirst().contains { $0.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "\"", with: "") == "rel=next" }
        }
    }
}
