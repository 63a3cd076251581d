import Foundation

/// Bitbucket Server / Data Center's REST APIs under /rest, from
/// https://developer.atlassian.com/server/bitbucket/rest/v819/ and the SSH REST
/// reference (https://docs.atlassian.com/bitbucket-server/rest/5.6.2/bitbucket-ssh-rest.html):
/// `X-AUSERNAME` on authenticated answers; paged answers `{"size","limit","isLastPage",
/// "values","start","nextPageStart"}`; errors `{"errors":[{"context","message",
/// "exceptionName"}]}`; 401 for a bad token and for a missing permission alike.
enum FakeBitbucketServer {
    static let kind = FakeKind.bitbucketServer

    static func route(_ r: FakeRequest, _ s: inout FakeState) -> FakeResponse {
        guard r.path.hasPrefix("/rest/") else { return FakeErrors.notFound(kind, "Resource") }
        guard let user = s.user(token: r.token) else { return FakeErrors.unauthorized(kind) }
        var response = answer(r, r.segments(after: "/rest") ?? [], user, &s)
        response.headers += [("X-AUSERNAME", user.name), ("X-AUSERID", String(user.id))]
        return response
    }

    static func page(_ r: FakeRequest, _ items: [[String: Any]]) -> FakeResponse {
        let limit = min(1000, max(1, Int(r.query["limit"] ?? "25") ?? 25))
        let start = max(0, Int(r.query["start"] ?? "0") ?? 0)
        let slice = Array(items.dropFirst(start).prefix(limit))
        let last = start + slice.count >= items.count
        var o: [String: Any] = ["size": slice.count, "limit": limit, "isLastPage": last, "values": slice, "start": start]
        if !last { o["nextPageStart"] = start + slice.count }
        return .json(200, o)
    }

    static func answer(_ r: FakeRequest, _ seg: [String], _ user: FakeUser, _ s: inout FakeState) -> FakeResponse {
        if r.method == "GET", seg == ["api", "1.0", "users"] {
            let users = s.users.map { ["name": $0.name, "slug": $0.name, "id": $0.id, "active": true, "type": "NORMAL"] as [String: Any] }
            return page(r, users)
        }
        // api/1.0/projects/{key}/repos/{slug}/… and keys/1.0/projects/{key}/repos/{slug}/ssh/…
        guard seg.count >= 6, seg[2] == "projects", seg[4] == "repos", (seg[0] == "api" || seg[0] == "keys"), seg[1] == "1.0" else {
            return FakeErrors.notFound(kind, "Resource")
        }
        let path = seg[3] + "/" + seg[5]
        guard let repo = s.repository(path) else { return FakeErrors.notFound(kind, "Repository \(path)") }
        guard repo.admins.contains(user.name) || repo.readers.contains(user.name) else { return FakeErrors.forbiddenRole(kind) }
        let admin = repo.admins.contains(user.name)
        let rest = Array(seg.dropFirst(6))
        if seg[0] == "keys" {
            guard rest.first == "ssh" else { return FakeErrors.notFound(kind, "Resource") }
            guard admin else { return FakeErrors.forbiddenRole(kind) }
            return keys(r, Array(rest.dropFirst()), repo, &s)
        }
        switch (r.method, rest.first) {
        case ("GET", nil):
            return .json(200, ["id": repo.id, "slug": seg[5], "name": seg[5], "project": ["key": seg[3]], "state": "AVAILABLE"])
        case ("GET", "permissions"):
            guard admin else { return FakeErrors.forbiddenRole(kind) }
            let entries = repo.admins.sorted().map { ["user": ["name": $0, "slug": $0], "permission": "REPO_ADMIN"] as [String: Any] }
            return page(r, entries)
        case (_, "webhooks"):
            guard admin else { return FakeErrors.forbiddenRole(kind) }
            return FakeWebhookRoutes.bitbucket(r, Array(rest.dropFirst()), repo.path, &s)
        default:
            return FakeErrors.notFound(kind, "Resource")
        }
    }

    static func keyJSON(_ k: FakeDeployKey, _ repo: FakeRepository) -> [String: Any] {
        ["key": ["id": k.id, "text": k.key, "label": k.title], "repository": ["id": repo.id, "slug": repo.path], "permission": k.write ? "REPO_WRITE" : "REPO_READ"]
    }

    static func keys(_ r: FakeRequest, _ rest: [String], _ repo: FakeRepository, _ s: inout FakeState) -> FakeResponse {
        switch (r.method, rest.count) {
        case ("GET", 0):
            return page(r, (s.keys[repo.path] ?? []).map { keyJSON($0, repo) })
        case ("POST", 0):
            guard let body = r.json, let key = (body["key"] as? [String: Any])?["text"] as? String,
                let permission = body["permission"] as? String, ["REPO_READ", "REPO_WRITE"].contains(permission)
            else { return FakeErrors.invalid(kind, field: "key", "The request is missing key.text or a valid permission.") }
            let type = String(key.split(separator: " ").first ?? "")
            guard FakeGitHubEnterprise.acceptedKeyTypes.contains(type) else {
                return FakeErrors.invalid(kind, field: "key", "The SSH key type is not allowed.")
            }
            if s.keyInUse(key) != nil { return FakeErrors.keyInUse(kind) }
            let label = (body["key"] as? [String: Any])?["label"] as? String ?? ""
            let k = FakeDeployKey(id: s.newID(), title: label, key: key, write: permission == "REPO_WRITE")
            s.keys[repo.path, default: []].append(k)
            return .json(200, keyJSON(k, repo))
        case ("DELETE", 1):
            guard let i = s.keys[repo.path]?.firstIndex(where: { String($0.id) == rest[0] }) else { return FakeErrors.notFound(kind, "Access key \(rest[0])") }
            s.keys[repo.path]?.remove(at: i)
            return .empty(204)
        default:
            return FakeErrors.notFound(kind, "Resource")
        }
    }
}
