/// One permission a minted repository token (grant `repo-token`) may carry, as a runner
/// rule's `repo_token.permissions` caps it and `session open --permission` asks for it.
///
/// One notation for the three servers; the form of an entry says which server it is for:
/// - GitHub App permissions, `NAME:read|write|admin` (`contents:read`, `pull_requests:write`),
///   sent as the installation token's `permissions` object;
/// - GitLab project access token scopes (`read_repository`, `write_repository`, `api`, …)
///   and one role (`guest`, `planner`, `reporter`, `developer`, `maintainer`, `owner`),
///   sent as `scopes` and `access_level`;
/// - Bitbucket Data Center repository token permissions, `REPO_READ|REPO_WRITE|REPO_ADMIN`.
///
/// A higher level covers a lower one of the same name (`contents:write` covers
/// `contents:read`, `write_repository` covers `read_repository`, `developer` covers
/// `reporter`, `REPO_WRITE` covers `REPO_READ`); nothing else covers anything.
package struct RepoTokenPermission: Hashable, Sendable, CustomStringConvertible {
    package enum Server: String, Sendable, Hashable, CaseIterable {
        case github, gitlab, bitbucket
    }

    /// The entry as written (and as sent to the server).
    package let text: String
    package let server: Server
    /// What is compared: the GitHub permission's name, `repository`/`registry`/the scope
    /// for GitLab, `role` for a GitLab role, `repo` for Bitbucket.
    package let name: String
    /// Its rank among the levels of `name` (read 1 < write 2 < admin 3; a GitLab role's
    /// access level).
    package let level: Int

    package var description: String { text }

    /// GitLab's roles and their `access_level` (docs.gitlab.com/ee/api/members.html#roles).
    package static let gitlabRoles: [String: Int] = ["guest": 10, "planner": 15, "reporter": 20, "developer": 30, "maintainer": 40, "owner": 50]
    static let githubLevels = ["read": 1, "write": 2, "admin": 3]
    static let bitbucketLevels = ["REPO_READ": 1, "REPO_WRITE": 2, "REPO_ADMIN": 3]
    static let maxBytes = 64

    /// The permission `text` names, or a message saying what the forms are.
    package static func parse(_ text: String) -> Result<RepoTokenPermission, RepoTokenPermissionError> {
        let bytes = Array(text.utf8)
        let lower = ByteSet(Array("abcdefghijklmnopqrstuvwxyz_".utf8))
        let upper = ByteSet(Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ_".utf8))
        guard !bytes.isEmpty, bytes.count <= maxBytes else { return .failure(.init(text: text)) }
        if let colon = bytes.firstIndex(of: UInt8(ascii: ":")) {
            let name = String(decoding: bytes[..<colon], as: UTF8.self)
            let level = String(decoding: bytes[(colon + 1)...], as: UTF8.self)
            guard !name.isEmpty, name.utf8.allSatisfy(lower.contains), let rank = githubLevels[level] else { return .failure(.init(text: text)) }
            return .success(RepoTokenPermission(text: text, server: .github, name: name, level: rank))
        }
        if bytes.allSatisfy(upper.contains) {
            guard let rank = bitbucketLevels[text] else { return .failure(.init(text: text)) }
            return .success(RepoTokenPermission(text: text, server: .bitbucket, name: "repo", level: rank))
        }
        guard bytes.allSatisfy(lower.contains), bytes.first != UInt8(ascii: "_") else { return .failure(.init(text: text)) }
        if let access = gitlabRoles[text] {
            return .success(RepoTokenPermission(text: text, server: .gitlab, name: "role", level: access))
        }
        // read_X / write_X pairs (repository, registry, api, observability): write covers read.
        for (prefix, rank) in [("read_", 1), ("write_", 2)] where text.hasPrefix(prefix) && text.count > prefix.count {
            return .success(RepoTokenPermission(text: text, server: .gitlab, name: String(text.dropFirst(prefix.count)), level: rank))
        }
        // `api` is read-write on everything the project token may reach: it covers read_api.
        if text == "api" { return .success(RepoTokenPermission(text: text, server: .gitlab, name: "api", level: 2)) }
        return .success(RepoTokenPermission(text: text, server: .gitlab, name: text, level: 1))
    }

    /// Whether holding `self` allows asking for `other`.
    package func covers(_ other: RepoTokenPermission) -> Bool {
        server == other.server && name == other.name && level >= other.level
    }

    /// A GitLab role's text for an access level (`30` → `developer`).
    package static func gitlabRole(accessLevel: Int) -> String? { gitlabRoles.first { $0.value == accessLevel }?.key }
}

/// A permission no server has, with the forms there are.
package struct RepoTokenPermissionError: Error, Sendable, CustomStringConvertible {
    package let text: String
    package var description: String {
        "'\(text)' is not a repository-token permission: write a GitHub App permission as NAME:read|write|admin (contents:read), a GitLab scope (read_repository) or role (reporter, developer, maintainer), or a Bitbucket permission (REPO_READ, REPO_WRITE, REPO_ADMIN)"
    }
}

/// What a runner rule lets its sessions' minted tokens carry (`repo_token.permissions`).
/// Without a `repo_token` block: read-only on every server.
package struct RepoTokenCaps: Hashable, Sendable {
    package let allowed: [RepoTokenPermission]

    package init(allowed: [RepoTokenPermission]) { self.allowed = allowed }

    /// `contents:read` and `metadata:read` (GitHub), `read_repository` as a `reporter`
    /// (GitLab), `REPO_READ` (Bitbucket).
    package static let readOnly = RepoTokenCaps(
        allowed: ["contents:read", "metadata:read", "read_repository", "reporter", "REPO_READ"].compactMap { try? RepoTokenPermission.parse($0).get() })

    /// What a session asking for nothing gets on `server`: read access to the repository.
    package static func defaults(for server: RepoTokenPermission.Server) -> [RepoTokenPermission] {
        let texts: [String] =
            switch server {
            case .github: ["contents:read"]
            case .gitlab: ["read_repository", "reporter"]
            case .bitbucket: ["REPO_READ"]
            }
        return texts.compactMap { try? RepoTokenPermission.parse($0).get() }
    }

    /// The first of `asked` the rule does not allow, if any.
    package func firstRefused(_ asked: [RepoTokenPermission]) -> RepoTokenPermission? {
        asked.first { p in !allowed.contains { $0.covers(p) } }
    }

    /// The rule's entries for one server, for messages.
    package func allowed(on server: RepoTokenPermission.Server) -> [String] { allowed.filter { $0.server == server }.map(\.text) }
}
