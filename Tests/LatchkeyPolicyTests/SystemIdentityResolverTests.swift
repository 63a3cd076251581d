import Foundation
import LatchkeyPolicy
import Testing

@Suite struct SystemIdentityResolverTests {
    @Test func findsRootAndItsGroup() throws {
        let resolver = SystemIdentityResolver()
        #expect(resolver.user(named: "root") == UserEntry(uid: 0, primaryGID: 0))
        let group = try #require(resolver.group(named: "root"))
        #expect(group.gid == 0)
        let nobody = try #require(resolver.user(named: "nobody"))
        #expect(nobody.uid != 0)
        let everyone = resolver.allUsers()
        #expect(everyone.contains(UserEntry(uid: 0, primaryGID: 0)))
        #expect(everyone.contains(nobody))
    }

    /// /etc/group lists no members for root; root is in it by primary gid, which the
    /// loader finds through `allUsers()`, so a root process running with another gid
    /// still counts as a member.
    @Test func primaryGroupMembersCountAsMembers() throws {
        let dir = PolicyFixture(["x.yaml": "version: 1\nauditors: { groups: [root] }\n"])
        defer { dir.remove() }
        let policy = try dir.load(resolver: SystemIdentityResolver())
        #expect(policy.isAuditor(PeerIdentity(uid: 0, gid: 4242, pid: 1)))
        let nobody = try #require(SystemIdentityResolver().user(named: "nobody"))
        #expect(!policy.isAuditor(PeerIdentity(uid: nobody.uid, gid: nobody.primaryGID, pid: 1)))
    }

    @Test func unknownNamesAreNil() {
        let resolver = SystemIdentityResolver()
        #expect(resolver.user(named: "no-such-user-\(getpid())") == nil)
        #expect(resolver.group(named: "no-such-group-\(getpid())") == nil)
        #expect(resolver.user(named: "") == nil)
        #expect(resolver.user(named: "ro\u{0}ot") == nil)
    }

    @Test func aPolicyNamingSystemUsersLoadsAndAnUnknownOneIsRefused() throws {
        let text = """
            version: 1
            admins: { users: [root], groups: [root] }
            auditors: { users: [no-such-user-here] }
            """
        let dir = PolicyFixture(["x.yaml": text])
        defer { dir.remove() }
        let error = try #require(dir.refusal(resolver: SystemIdentityResolver()))
        #expect(error.code == "policy_unknown_user")
        #expect(error.line == 3)
        #expect(error.reason.contains("'no-such-user-here'"))

        dir.write("x.yaml", "version: 1\nadmins: { users: [root], groups: [root] }\n")
        let policy = try dir.load(resolver: SystemIdentityResolver())
        #expect(policy.isAdmin(PeerIdentity(uid: 0, gid: 0, pid: 1)))
        #expect(policy.isAdmin(PeerIdentity(uid: 4242, gid: 0, pid: 1)))
        #expect(!policy.isAdmin(PeerIdentity(uid: 4242, gid: 4242, pid: 1)))
    }

    /// A runner rule between two real users: `nobody` opens sessions, only `root` redeems.
    @Test func aRunnerRuleBetweenSystemUsersDecidesByTheirUIDs() throws {
        let text = """
            version: 1
            runners:
              - name: system
                who: { users: [nobody] }
                projects: ["lib-*"]
                grants: [token]
                max_ttl: 10m
                max_uses: 2
                builds: { users: [root] }
            """
        let dir = PolicyFixture(["x.yaml": text])
        defer { dir.remove() }
        let policy = try dir.load(resolver: SystemIdentityResolver())
        let nobodyEntry = try #require(SystemIdentityResolver().user(named: "nobody"))
        let nobody = PeerIdentity(uid: nobodyEntry.uid, gid: nobodyEntry.primaryGID, pid: 1)
        let root = PeerIdentity(uid: 0, gid: 0, pid: 1)
        #expect(policy.isRunner(nobody) && !policy.isRunner(root))
        #expect(!policy.isAdmin(nobody) && !policy.isAuditor(nobody))
        let rule = try #require(policy.runnerRule(for: nobody, project: "lib-json"))
        #expect(policy.runnerRule(for: nobody, project: "app") == nil)
        #expect(rule.mayRedeem(root) && !rule.mayRedeem(nobody))
        #expect(rule.grants == [.token] && rule.maxTTL == .seconds(600) && rule.maxUses == 2)
    }
}
