import Foundation

/// GitLab's REST API under /api/v4, from https://docs.gitlab.com/ee/api/
/// (personal_access_tokens, users, projects, deploy_keys, project webhooks): `:id` is a
/// numeric id or the URL-encoded path; offset pagination with `page` / `per_page`
/// (≤ 100) and the `X-Page`, `X-Per-Page`, `X-Next-Page`, `X-Total` headers;
/// `RateLimit-*` headers; roles by access level (40 = Maintainer).
enum FakeGitLab {
    static let kind = FakeKind.gitlab
    static let maintainer = 40

    static func route(_ r: FakeRequest, _ s: inout FakeState) -> FakeResponse {
        guard let seg = r.segments(after: kind.apiRoot) else { return FakeErrors.notFound(kind) }
        guard let user = s.user(token: r.token) else { return FakeErrors.unauthorized(kind) }
        var response = answer(r, seg, user, &s)
        response.headers += [
            ("RateLimit-Limit", "600"), ("RateLimit-Remaining", "599"),
            ("RateLimit-Reset", String(Int(Date().timeIntervalSince1970) + 60)),
        ]
        return response
    }

    static func answer(_ r: FakeRequest, _ seg: [String], _ user: FakeUser, _ s: inout FakeState) -> FakeResponse {
        let scopes = user.scopes ?? []
        switch (r.method, seg) {
        case ("GET", ["personal_access_tokens", "self"]):
            var o: [String: Any] = [
                "id": user.id, "name": "latchkey", "revoked": false, "created_at": "2026-11-01T00:00:00.000Z", "scopes": scopes,
                "user_id": user.id, "last_used_at": "2026-12-01T00:00:00.000Z", "active": user.active,
            ]
            o["expires_at"] = user.expiresAt ?? NSNull()
            return .json(200, o)
        case ("GET", ["user"]):
            guard !Set(scopes).isDisjoint(with: ["api", "read_api", "read_user"]) else { return FakeErrors.forbiddenScope(kind, scope: "read_user") }
            return .json(200, ["id": user.id, "username": user.name, "name": user.name, "state": "active"])
        default:
            break
        }
        guard seg.count >= 2, seg[0] == "projects" else { return FakeErrors.notFound(kind) }
        guard let repo = s.repository(seg[1]), repo.admins.contains(user.name) || repo.readers.contains(user.name) else {
            return FakeErrors.notFound(kind, "Project")
        }
        let level = repo.admins.contains(user.name) ? maintainer : 20
        let rest = Array(seg.dropFirst(2))
        if r.method == "GET", rest.isEmpty {
            guard !Set(scopes).isDisjoint(with: ["api", "read_api"]) else { return FakeErrors.forbiddenScope(kind, scope: "read_api") }
            return .json(
                200,
                ["id": repo.id, "path_with_namespace": repo.path, "permissions": ["project_access": ["access_level": level, "notification_level": 3], "group_access": NSNull()]])
        }
        guard scopes.contains("api") else { return FakeErrors.forbiddenScope(kind) }
        guard level >= maintainer else { return FakeErrors.forbiddenRole(kind) }
        switch rest.first {
        case "deploy_keys": return keys(r, Array(rest.dropFirst()), repo.path, &s)
        case "hooks": return FakeWebhookRoutes.gitlab(r, Array(rest.dropFirst()), repo.path, &s)
        default: return FakeErrors.notFound(kind)
        }
    }

    static func keyJSON(_ k: FakeDeployKey) -> [String: Any] {
        ["id": k.id, "title": k.title, "key": k.key, "can_push": k.write, "created_at": "2026-12-01T00:00:00.000Z", "expires_at": NSNull()]
    }

    static func keys(_ r: FakeRequest, _ rest: [String], _ repo: String, _ s: inout FakeState) -> FakeResponse {
        switch (r.method, rest.count) {
        case ("GET", 0):
            let perPage = min(100, max(1, Int(r.query["per_page"] ?? "20") ?? 20))
            let page = max(1, Int(r.query["page"] ?? "1") ?? 1)
            let all = s.keys[repo] ?? []
            let slice = Array(all.dropFirst((page - 1) * perPage).prefix(perPage))
            let next = page * perPage < all.count ? String(page + 1) : ""
            return .json(
                200, slice.map(keyJSON),
                headers: [("X-Page", String(page)), ("X-Per-Page", String(perPage)), ("X-Next-Page", next), ("X-Total", String(all.count))])
        case ("POST", 0):
            guard let body = r.json, let key = body["key"] as? String, let title = body["title"] as? String, !title.isEmpty else {
                return .json(400, ["error": "title is missing, key is missing"])
            }
            let type = String(key.split(separator: " ").first ?? "")
            guard FakeGitHubEnterprise.acceptedKeyTypes.contains(type) else {
                return FakeErrors.invalid(kind, field: "deploy_key.key", "type is forbidden. Must be RSA, ECDSA, ED25519, ECDSA_SK, or ED25519_SK")
            }
            if s.keyInUse(key) != nil { return FakeErrors.keyInUse(kind) }
            let k = FakeDeployKey(id: s.newID(), title: title, key: key, write: body["can_push"] as? Bool ?? false)
            s.keys[repo, default: []].append(k)
            return .json(201, keyJSON(k))
        case ("DELETE", 1):
            guard let i = s.keys[repo]?.firstIndex(where: { String($0.id) == rest[0] }) else { return FakeErrors.notFound(kind, "Deploy Key") }
            s.keys[repo]?.remove(at: i)
            return .empty(204)
        default:
            return FakeErrors.notFound(kind)
        }
    }
}
