import LatchkeyPolicy
import Testing

/// The `repo_token` block of a runner rule and the permissions a session may ask for
/// its minted repository token.
@Suite struct RepoTokenPolicyTests {
    static func permission(_ text: String) throws -> RepoTokenPermission {
        try RepoTokenPermission.parse(text).get()
    }

    static func policy(_ block: String) -> String {
        validPolicy.replacingOccurrences(of: "grants: [deploy-key, token]", with: "grants: [deploy-key, repo-token]\n" + block)
    }

    static func rule(_ text: String) throws -> RunnerRule {
        let dir = PolicyFixture(["p.yaml": text])
        defer { dir.remove() }
        let p = try dir.load()
        return try #require(p.runnerRule(for: PeerIdentity(uid: 1001, gid: 1001, pid: 1), project: "web-app"))
    }

    @Test func aRuleWithoutARepoTokenBlockAllowsReadOnlyOnEveryServer() throws {
        let rule = try Self.rule(Self.policy(""))
        #expect(rule.grants.contains(.repoToken))
        #expect(rule.repoToken == .readOnly)
        for allowed in ["contents:read", "metadata:read", "read_repository", "reporter", "REPO_READ", "guest"] {
            #expect(rule.repoToken.firstRefused([try Self.permission(allowed)]) == nil, "\(allowed)")
        }
        for refused in ["contents:write", "pull_requests:read", "write_repository", "developer", "api", "REPO_WRITE", "REPO_ADMIN"] {
            #expect(rule.repoToken.firstRefused([try Self.permission(refused)])?.text == refused, "\(refused)")
        }
    }

    @Test func aHigherLevelCoversALowerOneOfTheSameNameOnly() throws {
        let rule = try Self.rule(Self.policy("    repo_token: { permissions: [contents:write, write_repository, developer, REPO_WRITE, api] }"))
        for allowed in ["contents:read", "contents:write", "read_repository", "write_repository", "reporter", "developer", "REPO_READ", "REPO_WRITE", "read_api", "api"] {
            #expect(rule.repoToken.firstRefused([try Self.permission(allowed)]) == nil, "\(allowed)")
        }
        for refused in ["contents:admin", "issues:read", "maintainer", "REPO_ADMIN", "read_registry"] {
            #expect(rule.repoToken.firstRefused([try Self.permission(refused)]) != nil, "\(refused)")
        }
    }

    @Test func everyServersFormIsTold() throws {
        #expect(try Self.permission("pull_requests:write").server == .github)
        #expect(try Self.permission("read_repository").server == .gitlab)
        #expect(try Self.permission("maintainer").name == "role")
        #expect(try Self.permission("maintainer").level == 40)
        #expect(try Self.permission("REPO_ADMIN").server == .bitbucket)
        for bad in ["", "contents:", ":read", "contents:own", "Contents:read", "REPO_OWN", "read-repository", "_x", "contents:read:x", String(repeating: "a", count: 65)] {
            guard case .failure(let e) = RepoTokenPermission.parse(bad) else {
                Issue.record("'\(bad)' was taken as a permission")
                continue
            }
            #expect(e.description.contains("NAME:read|write|admin"))
        }
    }

    @Test(arguments: [
        ("    repo_token: { permissions: [contents:own] }", "policy_bad_permission", "contents:own"),
        ("    repo_token: { permissions: [REPO_READ, REPO_READ] }", "policy_duplicate_entry", "listed twice"),
        ("    repo_token: { permissions: [reporter, developer] }", "policy_bad_permission", "two GitLab roles"),
        ("    repo_token: { scopes: [read_repository] }", "policy_unknown_key", "unknown key 'scopes'"),
        ("    repo_token: { permissions: [] }", "policy_empty_list", "is empty"),
        ("    repo_token: [contents:read]", "policy_wrong_type", "must be a mapping"),
    ])
    func aBrokenRepoTokenBlockIsRefusedWithItsLine(block: String, code: String, reason: String) throws {
        let text = Self.policy(block)
        let dir = PolicyFixture(["p.yaml": text])
        defer { dir.remove() }
        let error = try #require(dir.refusal())
        #expect(error.code == code)
        #expect(error.line == line(of: "repo_token", in: text))
        #expect(error.description.contains(reason), "\(error.description)")
    }
}
