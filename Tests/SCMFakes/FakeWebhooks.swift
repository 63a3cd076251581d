import Foundation

/// The three servers' repository-webhook APIs, each as its documentation describes it
/// (what it takes, what it checks, what it answers). The caller has already checked the
/// token, its scope and the user's role on the repository.
enum FakeWebhookRoutes {
    // MARK: GitHub Enterprise Server — repos/webhooks
    // https://docs.github.com/en/enterprise-server@3.14/rest/repos/webhooks
    // POST /repos/{owner}/{repo}/hooks {"name":"web","active","events","config":{"url",
    // "content_type":"json"|"form","secret","insecure_ssl":"0"|"1"}} → 201 + Location;
    // 422 Validation Failed (no url, bad content type, unknown event, a hook with the same
    // config and an overlapping event already there: "Hook already exists on this
    // repository"). GET …/hooks (per_page ≤ 100, page, Link), GET/PATCH/DELETE
    // …/hooks/{hook_id} (PATCH takes config, events, add_events, remove_events, active).
    // Answers never carry the secret: config.secret reads "********".

    static let githubEvents: Set<String> = [
        "*", "push", "pull_request", "create", "delete", "release", "issues", "issue_comment", "pull_request_review",
        "pull_request_review_comment", "status", "check_run", "check_suite", "deployment", "deployment_status", "fork", "ping",
        "repository", "workflow_run", "workflow_job",
    ]

    static func githubJSON(_ h: FakeWebhook, repo: String) -> [String: Any] {
        var config: [String: Any] = ["url": h.url, "content_type": h.contentType ?? "form", "insecure_ssl": "0"]
        if !h.secret.isEmpty { config["secret"] = "********" }
        return [
            "id": h.id, "type": "Repository", "name": "web", "active": h.active, "events": h.events, "config": config,
            "url": "\(FakeKind.githubEnterprise.apiRoot)/repos/\(repo)/hooks/\(h.id)", "created_at": "2026-12-01T00:00:00Z",
        ]
    }

    static func githubInvalid(_ message: String, field: String) -> FakeResponse {
        .json(
            422,
            ["message": "Validation Failed", "errors": [["resource": "Hook", "code": "custom", "field": field, "message": message]],
             "documentation_url": FakeErrors.githubDocs + "/repos/webhooks#create-a-repository-webhook"])
    }

    /// Checks a `config` object as GitHub does; the error, or nil.
    static func githubConfigError(_ config: [String: Any]) -> FakeResponse? {
        guard let url = config["url"] as? String, URL(string: url)?.host != nil, url.hasPrefix("https://") || url.hasPrefix("http://") else {
            return githubInvalid("url is not a valid URL", field: "config")
        }
        if let ct = config["content_type"], !["json", "form"].contains(ct as? String ?? "") {
            return githubInvalid("content_type must be json or form", field: "config")
        }
        if let ssl = config["insecure_ssl"], !["0", "1"].contains(ssl as? String ?? "") {
            return githubInvalid("insecure_ssl must be \"0\" or \"1\"", field: "config")
        }
        if let secret = config["secret"], !(secret is String) { return githubInvalid("secret must be a string", field: "config") }
        return nil
    }

    static func githubEventsError(_ events: Any?) -> FakeResponse? {
        guard let events else { return nil }
        guard let list = events as? [String], list.allSatisfy(githubEvents.contains) else {
            return githubInvalid("events contains an unknown event", field: "events")
        }
        return nil
    }

    static func github(_ r: FakeRequest, _ rest: [String], _ repo: String, _ s: inout FakeState) -> FakeResponse {
        let kind = FakeKind.githubEnterprise
        switch (r.method, rest.count) {
        case ("GET", 0):
            let perPage = min(100, max(1, Int(r.query["per_page"] ?? "30") ?? 30))
            let page = max(1, Int(r.query["page"] ?? "1") ?? 1)
            let all = s.hooks[repo] ?? []
            var headers: [(String, String)] = []
            if page * perPage < all.count {
                headers.append(("Link", "<\(kind.apiRoot)/repos/\(repo)/hooks?per_page=\(perPage)&page=\(page + 1)>; rel=\"next\""))
            }
            return .json(200, Array(all.dropFirst((page - 1) * perPage).prefix(perPage)).map { githubJSON($0, repo: repo) }, headers: headers)
        case ("POST", 0):
            guard let body = r.json else { return .json(400, ["message": "Problems parsing JSON", "documentation_url": FakeErrors.githubDocs]) }
            if let name = body["name"], name as? String != "web" { return githubInvalid("name must be web", field: "name") }
            guard let config = body["config"] as? [String: Any] else { return githubInvalid("config is missing", field: "config") }
            if let e = githubConfigError(config) { return e }
            if let e = githubEventsError(body["events"]) { return e }
            let url = config["url"] as? String ?? ""
            let events = body["events"] as? [String] ?? ["push"]
            if (s.hooks[repo] ?? []).contains(where: { $0.url == url && !Set($0.events).isDisjoint(with: events) }) {
                return githubInvalid("Hook already exists on this repository", field: "")
            }
            let h = FakeWebhook(
                id: s.newID(), url: url, secret: config["secret"] as? String ?? "", events: events,
                contentType: config["content_type"] as? String ?? "form", active: body["active"] as? Bool ?? true)
            s.hooks[repo, default: []].append(h)
            return .json(201, githubJSON(h, repo: repo), headers: [("Location", "\(kind.apiRoot)/repos/\(repo)/hooks/\(h.id)")])
        case (let method, 1) where ["GET", "PATCH", "DELETE"].contains(method):
            guard let i = s.hooks[repo]?.firstIndex(where: { String($0.id) == rest[0] }), var h = s.hooks[repo]?[i] else {
                return FakeErrors.notFound(kind)
            }
            if method == "GET" { return .json(200, githubJSON(h, repo: repo)) }
            if method == "DELETE" {
                s.hooks[repo]?.remove(at: i)
                return .empty(204)
            }
            guard let body = r.json else { return .json(400, ["message": "Problems parsing JSON", "documentation_url": FakeErrors.githubDocs]) }
            if let config = body["config"] as? [String: Any] {
                // PATCH replaces the whole config: a config without url is refused.
                if let e = githubConfigError(config) { return e }
                h.url = config["url"] as? String ?? h.url
                h.secret = config["secret"] as? String ?? ""
                h.contentType = config["content_type"] as? String ?? "form"
            }
            for key in ["events", "add_events", "remove_events"] { if let e = githubEventsError(body[key]) { return e } }
            if let events = body["events"] as? [String] { h.events = events }
            for e in body["add_events"] as? [String] ?? [] where !h.events.contains(e) { h.events.append(e) }
            h.events.removeAll { (body["remove_events"] as? [String] ?? []).contains($0) }
            if let active = body["active"] as? Bool { h.active = active }
            s.hooks[repo]?[i] = h
            return .json(200, githubJSON(h, repo: repo))
        default:
            return FakeErrors.notFound(kind)
        }
    }

    // MARK: GitLab — project webhooks
    // https://docs.gitlab.com/ee/api/project_webhooks.html
    // POST /projects/:id/hooks: `url` required (400 "url is missing"; an invalid one 422
    // {"error":"Invalid url given"}), `token` (the secret token, sent back as
    // X-Gitlab-Token and never shown in answers), event flags (push_events defaults to
    // true), enable_ssl_verification → 201. PUT /projects/:id/hooks/:hook_id takes the
    // same (url required) → 200. DELETE → 204. GET …/hooks pages with page/per_page and
    // the X-Page / X-Next-Page / X-Total headers. Booleans may be JSON booleans.

    static let gitlabFlags: [(String, String, Bool)] = [
        ("push_events", "push", true), ("merge_requests_events", "merge_requests", false), ("tag_push_events", "tag_push", false),
        ("issues_events", "issues", false), ("note_events", "note", false), ("pipeline_events", "pipeline", false),
    ]

    static func gitlabEvents(_ body: [String: Any], current: [String]?) -> [String] {
        gitlabFlags.filter { flag in (body[flag.0] as? Bool) ?? (current.map { $0.contains(flag.1) } ?? flag.2) }.map(\.1)
    }

    static func gitlabJSON(_ h: FakeWebhook, projectID: Int64) -> [String: Any] {
        var o: [String: Any] = [
            "id": h.id, "url": h.url, "project_id": projectID, "enable_ssl_verification": true, "created_at": "2026-12-01T00:00:00.000Z",
            "alert_status": "executable", "disabled_until": NSNull(),
        ]
        for flag in gitlabFlags { o[flag.0] = h.events.contains(flag.1) }
        return o
    }

    static func gitlabURLError(_ body: [String: Any]) -> FakeResponse? {
        guard let url = body["url"] as? String, !url.isEmpty else { return .json(400, ["error": "url is missing"]) }
        guard URL(string: url)?.host != nil, url.hasPrefix("https://") || url.hasPrefix("http://") else {
            return .json(422, ["error": "Invalid url given"])
        }
        if let token = body["token"], !(token is String) { return .json(400, ["error": "token is invalid"]) }
        return nil
    }

    static func gitlab(_ r: FakeRequest, _ rest: [String], _ repo: String, _ s: inout FakeState) -> FakeResponse {
        let kind = FakeKind.gitlab
        let projectID = s.repository(repo)?.id ?? 0
        switch (r.method, rest.count) {
        case ("GET", 0):
            let perPage = min(100, max(1, Int(r.query["per_page"] ?? "20") ?? 20))
            let page = max(1, Int(r.query["page"] ?? "1") ?? 1)
            let all = s.hooks[repo] ?? []
            let next = page * perPage < all.count ? String(page + 1) : ""
            return .json(
                200, Array(all.dropFirst((page - 1) * perPage).prefix(perPage)).map { gitlabJSON($0, projectID: projectID) },
                headers: [("X-Page", String(page)), ("X-Per-Page", String(perPage)), ("X-Next-Page", next), ("X-Total", String(all.count))])
        case ("POST", 0):
            guard let body = r.json else { return .json(400, ["error": "url is missing"]) }
            if let e = gitlabURLError(body) { return e }
            let h = FakeWebhook(
                id: s.newID(), url: body["url"] as? String ?? "", secret: body["token"] as? String ?? "", events: gitlabEvents(body, current: nil))
            s.hooks[repo, default: []].append(h)
            return .json(201, gitlabJSON(h, projectID: projectID))
        case (let method, 1) where ["GET", "PUT", "DELETE"].contains(method):
            guard let i = s.hooks[repo]?.firstIndex(where: { String($0.id) == rest[0] }), var h = s.hooks[repo]?[i] else {
                return FakeErrors.notFound(kind, "Hook")
            }
            if method == "GET" { return .json(200, gitlabJSON(h, projectID: projectID)) }
            if method == "DELETE" {
                s.hooks[repo]?.remove(at: i)
                return .empty(204)
            }
            guard let body = r.json else { return .json(400, ["error": "url is missing"]) }
            if let e = gitlabURLError(body) { return e }
            h.url = body["url"] as? String ?? h.url
            if let token = body["token"] as? String { h.secret = token }
            h.events = gitlabEvents(body, current: h.events)
            s.hooks[repo]?[i] = h
            return .json(200, gitlabJSON(h, projectID: projectID))
        default:
            return FakeErrors.notFound(kind)
        }
    }

    // MARK: Bitbucket Server / Data Center — repository webhooks
    // https://developer.atlassian.com/server/bitbucket/rest/v819/api-group-repository/#api-api-latest-projects-projectkey-repos-repositoryslug-webhooks-post
    // POST …/repos/{slug}/webhooks {"name","url","active","events":[…],"configuration":
    // {"secret"}} → 201; name, url and at least one known event are required (400 with
    // the `errors[]` body naming the field as its context). PUT …/webhooks/{id} takes the
    // whole webhook → 200; DELETE → 204; GET …/webhooks pages (start, limit, isLastPage).
    // A webhook's answer does not show its secret.

    static let bitbucketEvents: Set<String> = [
        "repo:refs_changed", "repo:modified", "repo:forked", "repo:comment:added", "repo:comment:edited", "repo:comment:deleted",
        "pr:opened", "pr:from_ref_updated", "pr:to_ref_updated", "pr:modified", "pr:merged", "pr:declined", "pr:deleted",
        "pr:reviewer:approved", "pr:reviewer:unapproved", "pr:reviewer:needs_work", "pr:comment:added", "mirror:repo_synchronized",
    ]

    static func bitbucketJSON(_ h: FakeWebhook) -> [String: Any] {
        [
            "id": h.id, "name": h.name ?? "", "url": h.url, "active": h.active, "events": h.events, "configuration": [:] as [String: Any],
            "createdDate": 1_796_169_600_000, "updatedDate": 1_796_169_600_000, "scopeType": "repository",
        ]
    }

    static func bitbucketValidation(_ body: [String: Any]) -> FakeResponse? {
        func invalid(_ context: String, _ message: String) -> FakeResponse {
            .json(
                400,
                ["errors": [["context": context, "message": message, "exceptionName": "com.atlassian.bitbucket.validation.ArgumentValidationException"]]])
        }
        guard let name = body["name"] as? String, !name.trimmingCharacters(in: .whitespaces).isEmpty else { return invalid("name", "Name must not be blank") }
        guard let url = body["url"] as? String, URL(string: url)?.host != nil, url.hasPrefix("https://") || url.hasPrefix("http://") else {
            return invalid("url", "A valid URL is required")
        }
        guard let events = body["events"] as? [String], !events.isEmpty else { return invalid("events", "At least one event must be selected") }
        if let bad = events.first(where: { !bitbucketEvents.contains($0) }) { return invalid("events", "\(bad) is not a valid event") }
        if let config = body["configuration"], !(config is [String: Any]) { return invalid("configuration", "configuration must be an object") }
        return nil
    }

    static func bitbucket(_ r: FakeRequest, _ rest: [String], _ repo: String, _ s: inout FakeState) -> FakeResponse {
        let kind = FakeKind.bitbucketServer
        switch (r.method, rest.count) {
        case ("GET", 0):
            return FakeBitbucketServer.page(r, (s.hooks[repo] ?? []).map(bitbucketJSON))
        case ("POST", 0):
            guard let body = r.json else { return FakeErrors.invalid(kind, field: "body", "The request body is not JSON.") }
            if let e = bitbucketValidation(body) { return e }
            let h = FakeWebhook(
                id: s.newID(), url: body["url"] as? String ?? "", secret: (body["configuration"] as? [String: Any])?["secret"] as? String ?? "",
                events: body["events"] as? [String] ?? [], name: body["name"] as? String, active: body["active"] as? Bool ?? true)
            s.hooks[repo, default: []].append(h)
            return .json(201, bitbucketJSON(h))
        case (let method, 1) where ["GET", "PUT", "DELETE"].contains(method):
            guard let i = s.hooks[repo]?.firstIndex(where: { String($0.id) == rest[0] }), var h = s.hooks[repo]?[i] else {
                return FakeErrors.notFound(kind, "Webhook \(rest[0])")
            }
            if method == "GET" { return .json(200, bitbucketJSON(h)) }
            if method == "DELETE" {
                s.hooks[repo]?.remove(at: i)
                return .empty(204)
            }
            guard let body = r.json else { return FakeErrors.invalid(kind, field: "body", "The request body is not JSON.") }
            if let e = bitbucketValidation(body) { return e }
            h.name = body["name"] as? String
            h.url = body["url"] as? String ?? h.url
            h.events = body["events"] as? [String] ?? h.events
            h.secret = (body["configuration"] as? [String: Any])?["secret"] as? String ?? ""
            h.active = body["active"] as? Bool ?? h.active
            s.hooks[repo]?[i] = h
            return .json(200, bitbucketJSON(h))
        default:
            return FakeErrors.notFound(kind, "Resource")
        }
    }
}
