import Foundation
import LatchkeyPolicy
import Testing

@Suite struct ShippedPolicyTests {
    /// The embedded default, loaded the way `latchkey serve` loads it: the real
    /// directory, the system's user database, the running uid as the daemon's.
    @Test func defaultPolicyGivesTheDaemonsUserEveryRole() throws {
        let policy = try Policy.load(directory: shippedPolicies, daemonUID: getuid())
        #expect(policy.files == [shippedPolicies + "/default.yaml"])  // the example is not loaded
        let me = PeerIdentity(uid: getuid(), gid: getgid(), pid: getpid())
        #expect(policy.isAdmin(me))
        #expect(policy.isAuditor(me))
        #expect(policy.isRunner(me))
        let rule = try #require(policy.runnerRule(for: me, project: "any-project"))
        #expect(rule.name == "local")
        #expect(rule.grants == [.deployKey, .token])
        #expect(rule.maxTTL == .seconds(3600))
        #expect(rule.maxUses == 100)
        #expect(rule.mayRedeem(me))
        #expect(policy.webhookReceiverRule(for: me, project: "any-project")?.name == "local")
    }

    @Test func defaultPolicyGivesEveryoneElseNothing() throws {
        let policy = try Policy.load(directory: shippedPolicies, daemonUID: getuid())
        let other = PeerIdentity(uid: getuid() &+ 4242, gid: getgid() &+ 4242, pid: 1)
        #expect(!policy.isAdmin(other))
        #expect(!policy.isAuditor(other))
        #expect(!policy.isRunner(other))
        #expect(policy.runnerRule(for: other, project: "any-project") == nil)
        #expect(!policy.isWebhookReceiver(other))
        let rule = try #require(policy.runnerRules.first)
        #expect(!rule.mayRedeem(other))
    }

    /// The production example, installed as the comment in it says, with its users
    /// and groups created.
    @Test func productionExampleLoadsOnceItsUsersExist() throws {
        let example = try String(contentsOfFile: shippedPolicies + "/production.yaml.example", encoding: .utf8)
        let dir = PolicyFixture(["production.yaml": example])
        defer { dir.remove() }
        var resolver = FakeResolver.standard
        resolver.users["root"] = UserEntry(uid: 0, primaryGID: 0)
        resolver.groups["ci-builds"] = GroupEntry(gid: 6000, memberUIDs: [2001])
        let policy = try dir.load(resolver: resolver)

        let root = PeerIdentity(uid: 0, gid: 0, pid: 1)
        let admin = PeerIdentity(uid: 1100, gid: 1100, pid: 1)
        let auditor = PeerIdentity(uid: 1200, gid: 1300, pid: 1)
        let runner = PeerIdentity(uid: 1001, gid: 1001, pid: 1)
        let build = PeerIdentity(uid: 2001, gid: 6000, pid: 1)
        let containerBuild = PeerIdentity(uid: 2001, gid: 2001, pid: 1)
        #expect(policy.isAdmin(root) && policy.isAdmin(admin))
        #expect(!policy.isAdmin(runner) && !policy.isAdmin(build) && !policy.isAdmin(auditor))
        #expect(policy.isAuditor(auditor) && !policy.isAuditor(admin))
        #expect(policy.isRunner(runner) && !policy.isRunner(build) && !policy.isRunner(root))

        let web = try #require(policy.runnerRule(for: runner, project: "web-shop"))
        #expect(web.name == "linux-runners")
        #expect(web.mayRedeem(build) && web.mayRedeem(containerBuild) && !web.mayRedeem(runner))
        #expect(policy.runnerRule(for: runner, project: "api")?.name == "linux-runners")
        let receiver = PeerIdentity(uid: 2100, gid: 2100, pid: 1)
        #expect(policy.webhookReceiverRule(for: receiver, project: "web-shop")?.name == "ci-hooks")
        #expect(policy.webhookReceiverRule(for: receiver, project: "other") == nil)
        #expect(!policy.isWebhookReceiver(root) && !policy.isAdmin(receiver) && !policy.isRunner(receiver))
        let release = try #require(policy.runnerRule(for: runner, project: "release-2.0"))
        #expect(release.grants == [.deployKey])
        #expect(release.maxTTL == .seconds(2 * 3600))
        #expect(policy.runnerRule(for: runner, project: "internal-tools") == nil)
    }

    @Test func readmeExamplesUseTheDocumentedCodes() throws {
        let readme = try String(contentsOfFile: shippedPolicies + "/README.md", encoding: .utf8)
        #expect(readme.contains("policy_unknown_key"))
        #expect(readme.contains("$daemon"))
    }
}
