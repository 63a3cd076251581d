package import LatchkeyCrypto

/// Bitbucket Server / Data Center's REST APIs under `/rest`, as documented at
/// https://developer.atlassian.com/server/bitbucket/rest/v819/ and
/// https://docs.atlassian.com/bitbucket-server/rest/5.6.2/bitbucket-ssh-rest.html :
/// - Every authenticated answer carries the user's name in `X-AUSERNAME`; Latchkey reads
///   it from `GET /rest/api/1.0/users?limit=1` (any licensed user may call it).
/// - `GET /rest/api/1.0/projects/{key}/repos/{slug}` needs REPO_READ;
///   `GET …/repos/{slug}/permissions/users` answers only a REPO_ADMIN, so its 200 shows
///   the token may install keys and webhooks. Bitbucket answers 401 both for a bad token
///   and for a missing permission.
/// - Access keys: `POST /rest/keys/1.0/projects/{key}/repos/{slug}/ssh`
///   `{"key":{"text","label"},"permission":"REPO_READ"|"REPO_WRITE"}` → the created key
///   (`key.id`); `GET …/ssh?start=N&limit=100` pages with `isLastPage` / `nextPageStart`;
///   `DELETE …/ssh/{keyId}` → 204. A key already in use: 409 with the `errors[]` body.
/// - Webhooks: `POST /rest/api/1.0/projects/{key}/repos/{slug}/webhooks` `{"name","url",
///   "active","events","configuration":{"secret"}}` → 201 with `id`;
///   `PUT …/webhooks/{id}` → 200; `DELETE …/webhooks/{id}` → 204.
/// Error bodies are `{"errors":[{"context","message","exceptionName"}]}`. Tokens carry
/// permissions rather than scopes, and Bitbucket does not tell a token's holder its expiry.
package struct BitbucketServerAdapter: SCMServerAdapter {
    package let client: any SCMTransport

    package init(client: any SCMTransport) { self.client = client }

    /// `KEY/slug` → (`KEY`, `slug`), encoded.
    private func parts(_ repository: String) -> (project: String, slug: String) {
        let p = repository.split(separator: "/", maxSplits: 1).map(String.init)
        return (SCMPath.segment(p.first ?? ""), SCMPath.segment(p.count > 1 ? p[1] : ""))
    }

    private func repoPath(_ repository: String) -> String {
        let (k, s) = parts(repository)
        return "/api/1.0/projects/\(k)/repos/\(s)"
    }

    private func keysPath(_ repository: String) -> String {
        let (k, s) = parts(repository)
        return "/keys/1.0/projects/\(k)/repos/\(s)/ssh"
    }

    package func verifyToken(_ token: SecretBytes, needs: [SCMRepositoryNeeds]) async throws(SCMError) -> SCMTokenReport {
        let me = try await client.call(
            SCMRequest(.GET, "/api/1.0/users", query: [("limit", "1")], purpose: "verify the token"), token: token, expect: [200])
        guard let user = me.header("x-ausername"), !user.isEmpty else {
            throw SCMError(.badResponse, "\(client.name) answered GET /api/1.0/users without X-AUSERNAME (is the token valid, and is this Bitbucket Server / Data Center?)")
        }
        var missing: [String] = []
        for need in needs {
            let read = SCMRequest(.GET, repoPath(need.repository), purpose: "check the token's permission on \(need.repository)")
            let r = try await client.send(read, token: token)
            guard r.status == 200 else {
                guard [401, 403, 404].contains(r.status) else { throw client.failure(r, for: read) }
                missing.append("REPO_READ on \(need.repository)")
                continue
            }
            guard need.installDeployKey || need.webhooks else { continue }
            let admin = SCMRequest(
                .GET, repoPath(need.repository) + "/permissions/users", query: [("limit", "1")], purpose: "check REPO_ADMIN on \(need.repository)")
            let a = try await client.send(admin, token: token)
            if a.status != 200 {
                guard [401, 403, 404].contains(a.status) else { throw client.failure(a, for: admin) }
                missing.append("REPO_ADMIN on \(need.repository)")
            }
        }
        return SCMTokenReport(
            user: user, scopes: nil, expiresAt: nil, missing: missing,
            notes: ["Bitbucket tokens carry permissions, not scopes; Bitbucket does not tell a token's holder its expiry"])
    }

    private let adminHint = "the token's user needs REPO_ADMIN on the repository (Bitbucket answers 401 for a missing permission too)"

    package func installDeployKey(_ key: SCMDeployKey, repository: String, token: SecretBytes) async throws(SCMError) -> SCMInstalledKey {
        try key.checkType(for: client.connection)
        let body = JSONValue.object([
            "key": .object(["text": .string(key.publicKey), "label": .string(key.title)]),
            "permission": .string(key.write ? "REPO_WRITE" : "REPO_READ"),
        ])
        let request = SCMRequest(.POST, keysPath(repository), body: body.encoded, purpose: "install deploy key \(key.title)")
        let r = try await client.send(request, token: token)
        if r.status == 409 || (r.status == 400 && ServerMessage.summary(of: r).lowercased().contains("already")) {
            throw client.failure(
                r, for: request,
                hint: "this public key is already in use on \(client.connection.name), on a repository other than \(repository) or a user's account; remove it there, or rotate the project's key",
                code: .keyInUse)
        }
        guard r.status == 200 || r.status == 201 else { throw client.failure(r, for: request, hint: [401, 403].contains(r.status) ? adminHint : nil) }
        guard let id = r.json()?["key"]?["id"]?.id else { throw SCMError(.badResponse, "\(client.name) answered \(request.summary) without the key's id") }
        return SCMInstalledKey(id: id, title: key.title, publicKey: key.publicKey)
    }

    package func listDeployKeys(repository: String, token: SecretBytes) async throws(SCMError) -> [SCMInstalledKey] {
        var keys: [SCMInstalledKey] = []
        var start: Int64 = 0
        for _ in 0..<SCMPaging.maxPages {
            let request = SCMRequest(.GET, keysPath(repository), query: [("start", String(start)), ("limit", "100")], purpose: "list access keys")
            let r = try await client.call(request, token: token, expect: [200], hint: adminHint)
            let page = r.json()
            for v in page?["values"]?.array ?? [] {
                guard let id = v["key"]?["id"]?.id else { continue }
                keys.append(SCMInstalledKey(id: id, title: v["key"]?["label"]?.string ?? "", publicKey: v["key"]?["text"]?.string ?? ""))
            }
            guard page?["isLastPage"]?.bool == false, let next = page?["nextPageStart"]?.int, next > start else { break }
            start = next
        }
        return keys
    }

    package func removeDeployKey(id: String, repository: String, token: SecretBytes) async throws(SCMError) {
        let request = SCMRequest(.DELETE, keysPath(repository) + "/" + SCMPath.segment(id), purpose: "remove access key \(id)")
        _ = try await client.call(request, token: token, expect: [204, 404], hint: adminHint)
    }

    static func events(_ events: [String]) -> [JSONValue] {
        var out: [String] = []
        for e in events {
            let mapped: [String] =
                switch e {
                case "pull_request": ["pr:opened", "pr:from_ref_updated"]
                default: ["repo:refs_changed"]  // push and tag: both are ref changes
                }
            for m in mapped where !out.contains(m) { out.append(m) }
        }
        return out.map(JSONValue.string)
    }

    private func hookBody(_ hook: SCMWebhook, secret: SecretBytes) -> [UInt8] {
        JSONValue.object([
            "name": .string("latchkey"), "url": .string(hook.url), "active": .bool(true),
            "events": .array(Self.events(hook.events)),
            "configuration": .object(["secret": .string(secret.utf8Text())]),
        ]).encoded
    }

    /// A webhook call: the hint about scopes and roles only where the server said no to them.
    private func hookCall(_ request: SCMRequest, token: SecretBytes, expect: Set<Int>) async throws(SCMError) -> SCMResponse {
        let r = try await client.send(request, token: token)
        guard expect.contains(r.status) else { throw client.failure(r, for: request, hint: [401, 403, 404].contains(r.status) ? adminHint : nil) }
        return r
    }

    package func installWebhook(_ hook: SCMWebhook, repository: String, secret: SecretBytes, token: SecretBytes) async throws(SCMError) -> String {
        let request = SCMRequest(.POST, repoPath(repository) + "/webhooks", body: hookBody(hook, secret: secret), purpose: "install webhook")
        let r = try await hookCall(request, token: token, expect: [201])
        guard let id = r.json()?["id"]?.id else { throw SCMError(.badResponse, "\(client.name) answered \(request.summary) without the hook's id") }
        return id
    }

    package func updateWebhook(id: String, _ hook: SCMWebhook, repository: String, secret: SecretBytes, token: SecretBytes) async throws(SCMError) {
        let request = SCMRequest(
            .PUT, repoPath(repository) + "/webhooks/" + SCMPath.segment(id), body: hookBody(hook, secret: secret), purpose: "set webhook \(id)'s secret")
        _ = try await hookCall(request, token: token, expect: [200])
    }

    package func removeWebhook(id: String, repository: String, token: SecretBytes) async throws(SCMError) {
        let request = SCMRequest(.DELETE, repoPath(repository) + "/webhooks/" + SCMPath.segment(id), purpose: "remove webhook \(id)")
        _ = try await hookCall(request, token: token, expect: [204, 404])
    }

    package func listWebhooks(repository: String, token: SecretBytes) async throws(SCMError) -> [SCMInstalledWebhook] {
        var hooks: [SCMInstalledWebhook] = []
        var start: Int64 = 0
        for _ in 0..<SCMPaging.maxPages {
            let request = SCMRequest(.GET, repoPath(repository) + "/webhooks", query: [("start", String(start)), ("limit", "100")], purpose: "list webhooks")
            let r = try await hookCall(request, token: token, expect: [200])
            let page = r.json()
            for v in page?["values"]?.array ?? [] {
                guard let id = v["id"]?.id else { continue }
                hooks.append(SCMInstalledWebhook(id: id, url: v["url"]?.string ?? ""))
            }
            guard page?["isLastPage"]?.bool == false, let next = page?["nextPageStart"]?.int, next > start else { break }
            start = next
        }
        return hooks
    }
}
