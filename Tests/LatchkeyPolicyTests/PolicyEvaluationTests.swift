import LatchkeyPolicy
import Testing

/// Who can do what under `validPolicy`, asked the way the daemon asks.
struct Role: CustomTestStringConvertible, Sendable {
    var label: String
    var peer: PeerIdentity
    var admin = false
    var auditor = false
    var runner = false
    var build = false

    var testDescription: String { label }
}

let roles: [Role] = [
    Role(label: "admin by group membership", peer: PeerIdentity(uid: 1100, gid: 1100, pid: 10), admin: true),
    Role(label: "admin by uid", peer: PeerIdentity(uid: 1000, gid: 1000, pid: 11), admin: true),
    Role(label: "admin by primary gid", peer: PeerIdentity(uid: 4242, gid: 3000, pid: 12), admin: true),
    Role(label: "auditor", peer: PeerIdentity(uid: 1200, gid: 1300, pid: 13), auditor: true),
    Role(label: "auditor by membership with another gid", peer: PeerIdentity(uid: 1200, gid: 7, pid: 14), auditor: true),
    Role(label: "runner", peer: PeerIdentity(uid: 1001, gid: 1001, pid: 15), runner: true),
    Role(label: "build by name", peer: PeerIdentity(uid: 2001, gid: 2001, pid: 16), build: true),
    Role(label: "build by uid", peer: PeerIdentity(uid: 2500, gid: 2500, pid: 17), build: true),
    Role(label: "another user", peer: PeerIdentity(uid: 5555, gid: 5555, pid: 18)),
    Role(label: "root, named nowhere", peer: PeerIdentity(uid: 0, gid: 0, pid: 1)),
    Role(label: "the daemon's uid, named nowhere", peer: PeerIdentity(uid: testDaemonUID, gid: testDaemonUID, pid: 2)),
    Role(label: "runner's gid but another uid", peer: PeerIdentity(uid: 5555, gid: 1001, pid: 19)),
]

@Suite struct PolicyEvaluationTests {
    static let policy: Policy = {
        let dir = PolicyFixture(["x.yaml": validPolicy])
        defer { dir.remove() }
        return try! dir.load()
    }()

    @Test(arguments: roles)
    func eachRoleGetsExactlyWhatThePolicySays(_ role: Role) throws {
        let policy = Self.policy
        #expect(policy.isAdmin(role.peer) == role.admin)
        #expect(policy.isAuditor(role.peer) == role.auditor)
        #expect(policy.isRunner(role.peer) == role.runner)
        for project in ["web-frontend", "api"] {
            #expect((policy.runnerRule(for: role.peer, project: project) != nil) == role.runner, "\(project)")
        }
        let rule = try #require(policy.runnerRules.first)
        #expect(rule.mayRedeem(role.peer) == role.build)
    }

    @Test func aRunnerGetsOnlyProjectsItsGlobsMatch() throws {
        let runner = PeerIdentity(uid: 1001, gid: 1001, pid: 1)
        for project in ["web-a", "web-", "api"] {
            #expect(Self.policy.runnerRule(for: runner, project: project)?.name == "linux-runners", "\(project)")
        }
        for project in ["apix", "web", "my-web-app", "API", "", "web-a/../x"] {
            #expect(Self.policy.runnerRule(for: runner, project: project) == nil, "\(project)")
        }
    }

    @Test func theRuleCarriesItsCapsAndGrants() throws {
        let rule = try #require(Self.policy.runnerRule(for: PeerIdentity(uid: 1001, gid: 1001, pid: 1), project: "api"))
        #expect(rule.maxTTL == .seconds(30 * 60))
        #expect(rule.maxUses == 10)
        #expect(rule.grants == [.deployKey, .token])
        #expect(rule.projects.map(\.pattern) == ["web-*", "api"])
        #expect(rule.source.hasSuffix("/x.yaml:5"))
    }

    @Test func aRuleCarriesOnlyTheGrantsItLists() throws {
        let dir = PolicyFixture(["x.yaml": validPolicy.replacingOccurrences(of: "grants: [deploy-key, token]", with: "grants: [token]")])
        defer { dir.remove() }
        let rule = try #require(try dir.load().runnerRules.first)
        #expect(rule.grants == [.token])
    }

    @Test func theEmptyPolicyDeniesEveryone() {
        for role in roles {
            #expect(!Policy.empty.isAdmin(role.peer))
            #expect(!Policy.empty.isAuditor(role.peer))
            #expect(!Policy.empty.isRunner(role.peer))
            #expect(Policy.empty.runnerRule(for: role.peer, project: "api") == nil)
        }
        #expect(Policy.empty.runnerRules.isEmpty)
    }

    @Test func aPolicyWithoutRunnersLetsNobodyOpenSessions() throws {
        let dir = PolicyFixture(["x.yaml": "version: 1\nadmins: { users: [alice] }\n"])
        defer { dir.remove() }
        let policy = try dir.load()
        #expect(policy.isAdmin(PeerIdentity(uid: 1100, gid: 1100, pid: 1)))
        #expect(!policy.isRunner(PeerIdentity(uid: 1100, gid: 1100, pid: 1)))
        #expect(!policy.isAuditor(PeerIdentity(uid: 1100, gid: 1100, pid: 1)))
        #expect(policy.runnerRule(for: PeerIdentity(uid: 1100, gid: 1100, pid: 1), project: "api") == nil)
    }

    @Test func daemonStandsForTheDaemonsUID() throws {
        let text = """
            version: 1
            admins: { users: [$daemon] }
            runners:
              - name: local
                who: { users: [$daemon] }
                projects: ["*"]
                grants: [token]
                max_ttl: 1h
                max_uses: 100
                builds: { users: [$daemon] }
            """
        let dir = PolicyFixture(["x.yaml": text])
        defer { dir.remove() }
        let policy = try dir.load(daemonUID: 4321)
        let daemon = PeerIdentity(uid: 4321, gid: 1, pid: 1)
        #expect(policy.isAdmin(daemon))
        #expect(policy.runnerRule(for: daemon, project: "anything")?.mayRedeem(daemon) == true)
        #expect(!policy.isAdmin(PeerIdentity(uid: testDaemonUID, gid: 1, pid: 1)))
    }

    @Test func rulesForDifferentRunnersAreChosenByPeer() throws {
        let text = validPolicy + """

              - name: mac-runners
                who: { users: [mac-runner] }
                projects: ["*"]
                grants: [deploy-key]
                max_ttl: 10m
                max_uses: 1
                builds: { groups: [builders] }
            """
        let dir = PolicyFixture(["x.yaml": text])
        defer { dir.remove() }
        let policy = try dir.load()
        let linux = PeerIdentity(uid: 1001, gid: 1001, pid: 1)
        let mac = PeerIdentity(uid: 1002, gid: 1002, pid: 1)
        #expect(policy.runnerRule(for: linux, project: "web-x")?.name == "linux-runners")
        #expect(policy.runnerRule(for: linux, project: "other") == nil)
        let macRule = try #require(policy.runnerRule(for: mac, project: "web-x"))
        #expect(macRule.name == "mac-runners")
        #expect(macRule.mayRedeem(PeerIdentity(uid: 2001, gid: 2001, pid: 1)))
        #expect(macRule.mayRedeem(PeerIdentity(uid: 7777, gid: 5000, pid: 1)))
        #expect(!macRule.mayRedeem(PeerIdentity(uid: 2500, gid: 2500, pid: 1)))
    }
}
