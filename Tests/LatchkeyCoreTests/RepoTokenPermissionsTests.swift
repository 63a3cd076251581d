import Foundation
@testable import LatchkeyCore
import LatchkeyPolicy
import LatchkeyStore
import Testing

/// What a `repo-token` session's token will carry, decided at open as a plain function:
/// the asked permissions (the server's read-only defaults filling in what is not asked),
/// each allowed by the rule — more is refused, never cut.
@Suite struct RepoTokenPermissionsTests {
    static func rule(_ permissions: String?) throws -> RunnerRule {
        let dir = NSTemporaryDirectory() + "lk-rt-\(UUID().uuidString)"
        mkdir(dir, 0o700)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let block = permissions.map { "\n    repo_token: { permissions: [\($0)] }" } ?? ""
        let yaml = """
            version: 1
            admins: { uids: [0] }
            runners:
              - name: ci
                who: { uids: [0] }
                projects: ["*"]
                grants: [repo-token]
                max_ttl: 1h
                max_uses: 100
                builds: { uids: [0] }\(block)
            """
        try yaml.write(toFile: dir + "/p.yaml", atomically: true, encoding: .utf8)
        chmod(dir + "/p.yaml", 0o600)
        return try #require(try Policy.load(directory: dir, daemonUID: getuid()).runnerRule(for: PeerIdentity(uid: 0, gid: 0, pid: 1), project: "web"))
    }

    static func decide(_ asked: [String], _ rule: RunnerRule, _ kind: ConnectionKind) -> Result<[String], APIError> {
        do throws(APIError) {
            return .success(try Vault.repoTokenPermissions(asked, rule: rule, kind: kind, connection: "scm1"))
        } catch {
            return .failure(error)
        }
    }

    @Test func askingNothingGetsEachServersReadOnlyDefault() throws {
        let rule = try Self.rule(nil)
        #expect(try Self.decide([], rule, .githubEnterprise).get() == ["contents:read"])
        #expect(try Self.decide([], rule, .gitlab).get() == ["read_repository", "reporter"])
        #expect(try Self.decide([], rule, .bitbucketServer).get() == ["REPO_READ"])
    }

    @Test func aGitLabAskWithoutAScopeOrARoleHasTheDefaultsFilledIn() throws {
        let rule = try Self.rule("write_repository, developer")
        #expect(try Self.decide(["developer"], rule, .gitlab).get() == ["developer", "read_repository"])
        #expect(try Self.decide(["write_repository"], rule, .gitlab).get() == ["write_repository", "reporter"])
        #expect(try Self.decide(["write_repository", "write_repository"], rule, .gitlab).get() == ["write_repository", "reporter"])
    }

    @Test func moreThanTheRuleAllowsIsRefusedWithWhatItAllows() throws {
        let rule = try Self.rule("contents:read, REPO_READ")
        guard case .failure(let e) = Self.decide(["contents:write"], rule, .githubEnterprise) else { Issue.record("accepted"); return }
        #expect(e.code == .permissionNotAllowed && e.code.status == 403)
        #expect(e.message.contains("'contents:write'") && e.message.contains("it allows: contents:read"))
        // The default itself is refused when the rule does not allow it, and says so.
        guard case .failure(let d) = Self.decide([], rule, .gitlab) else { Issue.record("accepted"); return }
        #expect(d.code == .permissionNotAllowed && d.message.contains("the default for gitlab") && d.message.contains("nothing on gitlab"))
    }

    @Test func anotherServersPermissionOrTwoRolesAreBadInputNotAPolicyRefusal() throws {
        let rule = try Self.rule(nil)
        guard case .failure(let e) = Self.decide(["REPO_READ"], rule, .githubEnterprise) else { Issue.record("accepted"); return }
        #expect(e.code == .invalid && e.message.contains("bitbucket permission") && e.message.contains("NAME:read|write|admin"))
        guard case .failure(let r) = Self.decide(["reporter", "guest"], rule, .gitlab) else { Issue.record("accepted"); return }
        #expect(r.code == .invalid && r.message.contains("one GitLab role"))
        guard case .failure(let b) = Self.decide(["contents:own"], rule, .githubEnterprise) else { Issue.record("accepted"); return }
        #expect(b.code == .invalid)
    }
}
