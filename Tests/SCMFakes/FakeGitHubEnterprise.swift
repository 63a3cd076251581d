import Foundation

/// GitHub Enterprise Server's REST API under /api/v3, from
/// https://docs.github.com/en/enterprise-server@3.14/rest (users, repos, deploy-keys,
/// repos/webhooks): JSON answers, `X-OAuth-Scopes` on every authenticated answer of a
/// classic token, `GitHub-Authentication-Token-Expiration` for expiring tokens,
/// `x-ratelimit-*` headers, `Link` pagination (`per_page` ≤ 100, `page`).
enum FakeGitHubEnterprise {
    static let kind = FakeKind.githubEnterprise
    static let acceptedKeyTypes: Set<String> = [
        "ssh-rsa", "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
    ]

    static func route(_ r: FakeRequest, _ s: inout FakeState) -> FakeResponse {
        guard let seg = r.segments(after: kind.apiRoot) else { return FakeErrors.notFound(kind) }
        guard let user = s.user(token: r.token) else { return FakeErrors.unauthorized(kind) }
        var headers: [(String, String)] = [
            ("x-ratelimit-limit", "5000"), ("x-ratelimit-remaining", "4999"),
            ("x-ratelimit-reset", String(Int(Date().timeIntervalSince1970) + 3600)),
        ]
        if let scopes = user.scopes { headers.append(("X-OAuth-Scopes", scopes.joined(separator: ", "))) }
        if let e = user.expiresAt { headers.append(("GitHub-Authentication-Token-Expiration", e)) }
        var response = answer(r, seg, user, &s)
        response.headers += headers
        return response
    }

    static func hasScope(_ user: FakeUser, _ any: Set<String>) -> Bool {
        guard let scopes = user.scopes else { return true }  // fine-grained: permissions are the user's here
        return !any.isDisjoint(with: scopes)
    }

    static func answer(_ r: FakeRequest, _ seg: [String], _ user: FakeUser, _ s: inout FakeState) -> FakeResponse {
        if seg == ["user"], r.method == "GET" {
            return .json(200, ["login": user.name, "id": user.id, "type": "User", "site_admin": false])
        }
        guard seg.count >= 3, seg[0] == "repos" else { return FakeErrors.notFound(kind) }
        let path = seg[1] + "/" + seg[2]
        guard let repo = s.repository(path), repo.admins.contains(user.name) || repo.readers.contains(user.name) else {
            return FakeErrors.notFound(kind)
        }
        let admin = repo.admins.contains(user.name)
        let rest = Array(seg.dropFirst(3))
        switch (r.method, rest.count, rest.first) {
        case ("GET", 0, _):
            return .json(
                200,
                ["id": repo.id, "full_name": repo.path, "private": true, "permissions": ["admin": admin, "maintain": admin, "push": admin, "triage": true, "pull": true]])
        case (_, _, "keys"):
            guard hasScope(user, ["repo"]) else { return FakeErrors.forbiddenScope(kind) }
            guard admin else { return FakeErrors.forbiddenRole(kind) }
            return keys(r, Array(rest.dropFirst()), repo.path, &s)
        case (_, _, "hooks"):
            guard hasScope(user, ["repo", "admin:repo_hook", "write:repo_hook"]) else { return FakeErrors.forbiddenScope(kind) }
            guard admin else { return FakeErrors.forbiddenRole(kind) }
            return FakeWebhookRoutes.github(r, Array(rest.dropFirst()), repo.path, &s)
        default:
            return FakeErrors.notFound(kind)
        }
    }

    static func keyJSON(_ k: FakeDeployKey) -> [String: Any] {
        ["id": k.id, "key": k.key, "title": k.title, "read_only": !k.write, "verified": true, "created_at": "2026-12-01T00:00:00Z", "added_by": "latchkey"]
    }

    static func keys(_ r: FakeRequest, _ rest: [String], _ repo: String, _ s: inout FakeState) -> FakeResponse {
        switch (r.method, rest.count) {
        case ("GET", 0):
            let perPage = min(100, max(1, Int(r.query["per_page"] ?? "30") ?? 30))
            let page = max(1, Int(r.query["page"] ?? "1") ?? 1)
            let all = s.keys[repo] ?? []
            let slice = Array(all.dropFirst((page - 1) * perPage).prefix(perPage))
            var headers: [(String, String)] = []
            if page * perPage < all.count {
                headers.append(("Link", "<\(kind.apiRoot)/repos/\(repo)/keys?per_page=\(perPage)&page=\(page + 1)>; rel=\"next\""))
            }
            return .json(200, slice.map(keyJSON), headers: headers)
        case ("POST", 0):
            guard let body = r.json, let key = body["key"] as? String else {
                return FakeErrors.invalid(kind, field: "key", "key is missing")
            }
            let type = String(key.split(separator: " ").first ?? "")
            guard acceptedKeyTypes.contains(type), key.split(separator: " ").count >= 2 else {
                return FakeErrors.invalid(kind, field: "key", "key is invalid. You must supply a key in OpenSSH public key format")
            }
            if s.keyInUse(key) != nil { return FakeErrors.keyInUse(kind) }
            let k = FakeDeployKey(id: s.newID(), title: body["title"] as? String ?? "", key: key, write: (body["read_only"] as? Bool) == false)
            s.keys[repo, default: []].append(k)
            return .json(201, keyJSON(k))
        case ("GET", 1):
            guard let k = s.keys[repo]?.first(where: { String($0.id) == rest[0] }) else { return FakeErrors.notFound(kind) }
            return .json(200, keyJSON(k))
        case ("DELETE", 1):
            guard let i = s.keys[repo]?.firstIndex(where: { String($0.id) == rest[0] }) else { return FakeErrors.notFound(kind) }
            s.keys[repo]?.remove(at: i)
            return .empty(204)
        default:
            return FakeErrors.notFound(kind)
        }
    }
}
