package import LatchkeyCrypto
import Foundation

/// GitLab's REST API under `/api/v4`, as documented at https://docs.gitlab.com/ee/api/ :
/// - `GET /personal_access_tokens/self` (personal_access_tokens.html): the token's
///   `scopes`, `expires_at` (`YYYY-MM-DD`), `active`, `revoked`, `user_id`; and
///   `GET /user` (users.html) for its `username`. An invalid token gets 401
///   `{"message":"401 Unauthorized"}`; a missing scope 403 `{"error":"insufficient_scope",…}`.
/// - `GET /projects/:id` (projects.html): `permissions.project_access.access_level` and
///   `permissions.group_access.access_level` (40 = Maintainer). `:id` is the project's
///   path URL-encoded (`group%2Fsub%2Frepo`).
/// - Deploy keys (deploy_keys.html): `POST /projects/:id/deploy_keys`
///   `{"title","key","can_push"}` → 201 with `id`; a key already on the instance gets 400
///   `{"message":{"deploy_key.fingerprint":["has already been taken"]}}`;
///   `GET …/deploy_keys?per_page=100&page=N` with `X-Next-Page` (empty on the last page);
///   `DELETE …/deploy_keys/:key_id` → 204.
/// - Project webhooks (project_webhooks.html): `POST /projects/:id/hooks` `{"url","token",
///   "push_events","merge_requests_events","tag_push_events","enable_ssl_verification"}`
///   → 201 with `id`; `PUT …/hooks/:hook_id` → 200; `DELETE …/hooks/:hook_id` → 204.
/// Deploy keys and webhooks need the `api` scope and the Maintainer role.
package struct GitLabAdapter: SCMServerAdapter {
    package let client: any SCMTransport

    package init(client: any SCMTransport) { self.client = client }

    static let maintainer: Int64 = 40

    private func projectPath(_ repository: String) -> String { "/projects/" + SCMPath.segment(repository) }

    package func verifyToken(_ token: SecretBytes, needs: [SCMRepositoryNeeds]) async throws(SCMError) -> SCMTokenReport {
        let selfInfo = try await client.call(
            SCMRequest(.GET, "/personal_access_tokens/self", purpose: "verify the token"), token: token, expect: [200])
        let info = selfInfo.json()
        let scopes = info?["scopes"]?.array?.compactMap(\.string) ?? []
        let me = try await client.call(SCMRequest(.GET, "/user", purpose: "find the token's user"), token: token, expect: [200])
        guard let username = me.json()?["username"]?.string else {
            throw SCMError(.badResponse, "\(client.name) answered GET /user without a username")
        }
        var missing: [String] = []
        var notes: [String] = []
        let active = !(info?["active"]?.bool == false || info?["revoked"]?.bool == true)
        if !active {
            missing.append("an active token (GitLab reports this one revoked or expired)")
        }
        if let name = info?["name"]?.string { notes.append("token name: \(ServerMessage.cap(name))") }
        for need in needs where need.installDeployKey || need.webhooks {
            if !scopes.contains("api") {
                missing.append("scope api (\(need.installDeployKey ? "deploy keys" : "webhooks") on \(need.repository))")
            }
            let request = SCMRequest(.GET, projectPath(need.repository), purpose: "check the token's role on \(need.repository)")
            let r = try await client.send(request, token: token)
            switch r.status {
            case 200:
                let p = r.json()?["permissions"]
                let level = max(p?["project_access"]?["access_level"]?.int ?? 0, p?["group_access"]?["access_level"]?.int ?? 0)
                if level < Self.maintainer { missing.append("Maintainer role on \(need.repository)") }
            case 401: throw client.failure(r, for: request)
            case 403, 404: missing.append("access to \(need.repository) (the token's user cannot see it)")
            default: throw client.failure(r, for: request)
            }
        }
        return SCMTokenReport(
            user: username, scopes: scopes, expiresAt: info?["expires_at"]?.string, missing: missing, notes: notes, active: active)
    }

    private let keyHint = "the token needs the api scope and its user the Maintainer role on the project"

    package func installDeployKey(_ key: SCMDeployKey, repository: String, token: SecretBytes) async throws(SCMError) -> SCMInstalledKey {
        try key.checkType(for: client.connection)
        let body = JSONValue.object(["title": .string(key.title), "key": .string(key.publicKey), "can_push": .bool(key.write)])
        let request = SCMRequest(.POST, projectPath(repository) + "/deploy_keys", body: body.encoded, purpose: "install deploy key \(key.title)")
        let r = try await client.send(request, token: token)
        if r.status == 400 || r.status == 409 || r.status == 422, ServerMessage.summary(of: r).contains("already been taken") {
            throw client.failure(
                r, for: request,
                hint: "this public key is already a deploy key on \(client.connection.name), on a project other than \(repository); remove it there, or rotate the project's key",
                code: .keyInUse)
        }
        guard r.status == 201 else { throw client.failure(r, for: request, hint: [401, 403, 404].contains(r.status) ? keyHint : nil) }
        guard let id = r.json()?["id"]?.id else { throw SCMError(.badResponse, "\(client.name) answered \(request.summary) without the key's id") }
        return SCMInstalledKey(id: id, title: key.title, publicKey: key.publicKey)
    }

    package func listDeployKeys(repository: String, token: SecretBytes) async throws(SCMError) -> [SCMInstalledKey] {
        var keys: [SCMInstalledKey] = []
        var page = "1"
        for _ in 0..<SCMPaging.maxPages {
            let request = SCMRequest(
                .GET, projectPath(repository) + "/deploy_keys", query: [("per_page", "100"), ("page", page)], purpose: "list deploy keys")
            let r = try await client.call(request, token: token, expect: [200], hint: keyHint)
            for k in r.json()?.array ?? [] {
                guard let id = k["id"]?.id else { continue }
                keys.append(SCMInstalledKey(id: id, title: k["title"]?.string ?? "", publicKey: k["key"]?.string ?? ""))
            }
            guard let next = r.header("x-next-page")?.trimmingCharacters(in: .whitespaces), !next.isEmpty, next != page else { break }
            page = next
        }
        return keys
    }

    package func removeDeployKey(id: String, repository: String, token: SecretBytes) async throws(SCMError) {
        let request = SCMRequest(.DELETE, projectPath(repository) + "/deploy_keys/" + SCMPath.segment(id), purpose: "remove deploy key \(id)")
        _ = try await client.call(request, token: token, expect: [204, 404], hint: keyHint)
    }

    private func hookBody(_ hook: SCMWebhook, secret: SecretBytes) -> [UInt8] {
        JSONValue.object([
            "url": .string(hook.url), "token": .string(secret.utf8Text()),
            "push_events": .bool(hook.events.contains("push")),
            "merge_requests_events": .bool(hook.events.contains("pull_request")),
            "tag_push_events": .bool(hook.events.contains("tag")),
            "enable_ssl_verification": .bool(true),
        ]).encoded
    }

    private let hookHint = "the token needs the api scope and its user the Maintainer role on the project"

    /// A webhook call: the hint about scopes and roles only where the server said no to them.
    private func hookCall(_ request: SCMRequest, token: SecretBytes, expect: Set<Int>) async throws(SCMError) -> SCMResponse {
        let r = try await client.send(request, token: token)
        guard expect.contains(r.status) else { throw client.failure(r, for: request, hint: [401, 403, 404].contains(r.status) ? hookHint : nil) }
        return r
    }

    package func installWebhook(_ hook: SCMWebhook, repository: String, secret: SecretBytes, token: SecretBytes) async throws(SCMError) -> String {
        let request = SCMRequest(.POST, projectPath(repository) + "/hooks", body: hookBody(hook, secret: secret), purpose: "install webhook")
        let r = try await hookCall(request, token: token, expect: [201])
        guard let id = r.json()?["id"]?.id else { throw SCMError(.badResponse, "\(client.name) answered \(request.summary) without the hook's id") }
        return id
    }

    package func updateWebhook(id: String, _ hook: SCMWebhook, repository: String, secret: SecretBytes, token: SecretBytes) async throws(SCMError) {
        let request = SCMRequest(
            .PUT, projectPath(repository) + "/hooks/" + SCMPath.segment(id), body: hookBody(hook, secret: secret), purpose: "set webhook \(id)'s secret")
        _ = try await hookCall(request, token: token, expect: [200])
    }

    package func removeWebhook(id: String, repository: String, token: SecretBytes) async throws(SCMError) {
        let request = SCMRequest(.DELETE, projectPath(repository) + "/hooks/" + SCMPath.segment(id), purpose: "remove webhook \(id)")
        _ = try await hookCall(request, token: token, expect: [200, 204, 404])
    }

    package func listWebhooks(repository: String, token: SecretBytes) async throws(SCMError) -> [SCMInstalledWebhook] {
        var hooks: [SCMInstalledWebhook] = []
        var page = "1"
        for _ in 0..<SCMPaging.maxPages {
            let request = SCMRequest(
                .GET, projectPath(repository) + "/hooks", query: [("per_page", "100"), ("page", page)], purpose: "list webhooks")
            let r = try await hookCall(request, token: token, expect: [200])
            for h in r.json()?.array ?? [] {
                guard let id = h["id"]?.id else { continue }
                hooks.append(SCMInstalledWebhook(id: id, url: h["url"]?.string ?? ""))
            }
            guard let next = r.header("x-next-page")?.trimmingCharacters(in: .whitespaces), !next.isEmpty, next != page else { break }
            page = next
        }
        return hooks
    }
}
