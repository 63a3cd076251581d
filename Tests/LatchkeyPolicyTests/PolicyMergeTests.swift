import Foundation
import LatchkeyPolicy
import Testing

@Suite struct PolicyMergeTests {
    @Test func allPolicyFilesAreMergedInNameOrder() throws {
        let dir = PolicyFixture([
            "10-admins.yaml": "version: 1\nadmins: { users: [alice] }\nauditors: { uids: [1200] }\n",
            "20-runners.yml": validPolicy.replacingOccurrences(of: "admins: { groups: [ci-admins], uids: [1000] }\n", with: ""),
            "README.md": "not a policy",
            "production.yaml.example": "not: loaded",
            ".#20-runners.yml": "an editor's lock file",
            "backup.yaml~": "an editor's backup",
        ])
        defer { dir.remove() }
        let policy = try dir.load()
        #expect(policy.files == [dir.path + "/10-admins.yaml", dir.path + "/20-runners.yml"])
        #expect(policy.isAdmin(PeerIdentity(uid: 1100, gid: 1, pid: 1)))
        #expect(!policy.isAdmin(PeerIdentity(uid: 1000, gid: 1, pid: 1)))
        #expect(policy.isAuditor(PeerIdentity(uid: 1200, gid: 1, pid: 1)))
        #expect(policy.isAuditor(PeerIdentity(uid: 1, gid: 1300, pid: 1)))
        #expect(policy.runnerRules.map(\.name) == ["linux-runners"])
    }

    @Test func ruleNamesAreUniqueAcrossFiles() throws {
        let other = validPolicy.replacingOccurrences(of: "ci-runner", with: "mac-runner")
        let dir = PolicyFixture(["a.yaml": validPolicy, "b.yaml": other])
        defer { dir.remove() }
        let error = try #require(dir.refusal())
        #expect(error.code == "policy_duplicate_name")
        #expect(error.file == dir.path + "/b.yaml")
        #expect(error.line == 5)
        #expect(error.reason.contains("already used at \(dir.path)/a.yaml:5"))
    }

    @Test func tooManyRulesAreRefused() throws {
        func rules(_ range: Range<Int>) -> String {
            var text = "version: 1\nrunners:\n"
            for n in range {
                text += "  - { name: r\(n), who: { uids: [\(10_000 + n)] }, projects: [api], grants: [token], max_ttl: 1m, max_uses: 1, builds: { uids: [1] } }\n"
            }
            return text
        }
        let dir = PolicyFixture(["a.yaml": rules(0..<200), "b.yaml": rules(200..<(PolicyLimits.maxRunnerRules + 1))])
        defer { dir.remove() }
        let error = try #require(dir.refusal())
        #expect(error.code == "policy_too_large")
        #expect(error.file == dir.path + "/b.yaml")
        #expect(error.line == 3 + PolicyLimits.maxRunnerRules - 200)
        #expect(error.reason.contains("more than \(PolicyLimits.maxRunnerRules) runner rules"))
    }

    @Test func theMaximumNumberOfDisjointRulesLoads() throws {
        var text = "version: 1\nrunners:\n"
        for n in 0..<PolicyLimits.maxRunnerRules {
            text += "  - { name: r\(n), who: { users: [ci-runner] }, projects: [\"p\(n)-*\"], grants: [token], max_ttl: 1m, max_uses: 1, builds: { uids: [1] } }\n"
        }
        let dir = PolicyFixture(["x.yaml": text])
        defer { dir.remove() }
        let policy = try dir.load()
        #expect(policy.runnerRules.count == PolicyLimits.maxRunnerRules)
        #expect(policy.runnerRule(for: PeerIdentity(uid: 1001, gid: 1001, pid: 1), project: "p17-x")?.name == "r17")
        #expect(policy.runnerRule(for: PeerIdentity(uid: 1001, gid: 1001, pid: 1), project: "p1") == nil)
    }

    @Test func aListLongerThanTheLimitIsRefused() throws {
        let uids = (0...PolicyLimits.maxListEntries).map(String.init).joined(separator: ", ")
        let dir = PolicyFixture(["x.yaml": "version: 1\nadmins: { uids: [\(uids)] }\n"])
        defer { dir.remove() }
        let error = try #require(dir.refusal())
        #expect(error.code == "policy_too_large")
        #expect(error.line == 2)
    }
}
