import Foundation
import LatchkeyPolicy
import Testing

/// Users and groups of a made-up system.
struct FakeResolver: IdentityResolver {
    let users: [String: (UInt32, UInt32)] = ["ci-runner": (1500, 1500), "build": (2001, 2001), "alice": (1000, 100), "carol": (1200, 900)]
    let groups: [String: (UInt32, Set<UInt32>)] = ["ci-admins": (900, [1000]), "security": (901, [1100]), "builders": (902, [2001, 2002])]
    func user(named: String) -> (uid: UInt32, gid: UInt32)? { users[named].map { ($0.0, $0.1) } }
    func group(named: String) -> (gid: UInt32, members: Set<UInt32>)? { groups[named].map { ($0.0, $0.1) } }
}

func policyDirectory(_ files: [String: String]) -> String {
    let d = NSTemporaryDirectory() + "lk-policy-\(UUID().uuidString.prefix(8))"
    mkdir(d, 0o755)
    for (name, text) in files {
        let path = d + "/" + name
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o644])
    }
    return d
}

func load(_ text: String) throws(PolicyError) -> Policy {
    try Policy.load(directory: policyDirectory(["p.yaml": text]), daemonUID: 4242, resolver: FakeResolver())
}

func refusal(_ text: String) -> PolicyError? {
    do {
        _ = try load(text)
        return nil
    } catch {
        return error
    }
}

let good = """
    version: 1
    admins: { groups: [ci-admins] }
    auditors: { groups: [security], uids: [1300] }
    runners:
      - name: web
        who: { users: [ci-runner] }
        projects: ["web-*", "api"]
        grants: [deploy-key, token]
        max_ttl: 30m
        max_uses: 5
        builds: { users: [build] }
      - name: release
        who: { users: [ci-runner] }
        projects: ["release-?"]
        grants: [deploy-key]
        max_ttl: 1h30m
        max_uses: 1
        builds: { groups: [builders] }
    """

@Suite struct PolicyEvaluationTests {
    let admin = PeerIdentity(uid: 1000, gid: 100, pid: 1)
    let adminByGroup = PeerIdentity(uid: 7777, gid: 900, pid: 1)
    let auditor = PeerIdentity(uid: 1100, gid: 1100, pid: 1)
    let runner = PeerIdentity(uid: 1500, gid: 1500, pid: 1)
    let build = PeerIdentity(uid: 2001, gid: 2001, pid: 1)
    let stranger = PeerIdentity(uid: 3000, gid: 3000, pid: 1)

    @Test func rolesAreExactlyWhatThePolicyNames() throws {
        let p = try load(good)
        #expect(p.isAdmin(admin) && p.isAdmin(adminByGroup) && !p.isAdmin(runner) && !p.isAdmin(stranger))
        #expect(p.isAuditor(auditor) && p.isAuditor(PeerIdentity(uid: 1300, gid: 1, pid: 1)) && !p.isAuditor(admin))
        #expect(p.isRunner(runner) && !p.isRunner(build) && !p.isRunner(admin))
    }

    @Test func runnerRulesMatchProjectsByGlobAndCapSessions() throws {
        let p = try load(good)
        let web = try #require(p.runnerRule(for: runner, project: "web-shop"))
        #expect(web.name == "web" && web.maxTTL == .seconds(1800) && web.maxUses == 5 && web.grants == [.deployKey, .token])
        #expect(web.mayRedeem(build) && !web.mayRedeem(runner) && !web.mayRedeem(stranger))
        let release = try #require(p.runnerRule(for: runner, project: "release-1"))
        #expect(release.maxTTL == .seconds(5400) && release.grants == [.deployKey])
        #expect(release.mayRedeem(PeerIdentity(uid: 2002, gid: 5, pid: 1)) && release.mayRedeem(PeerIdentity(uid: 9, gid: 902, pid: 1)))
        #expect(p.runnerRule(for: runner, project: "release-12") == nil)
        #expect(p.runnerRule(for: runner, project: "other") == nil)
        #expect(p.runnerRule(for: stranger, project: "web-shop") == nil)
    }

    @Test func emptyPolicyDeniesEverything() {
        let p = Policy.empty
        #expect(!p.isAdmin(admin) && !p.isAuditor(auditor) && !p.isRunner(runner) && p.runnerRule(for: runner, project: "web-x") == nil)
    }

    @Test func filesMerge() throws {
        let dir = policyDirectory([
            "a.yaml": "version: 1\nadmins: { uids: [1] }\n",
            "b.yml": "version: 1\nadmins: { uids: [2] }\nauditors: { uids: [3] }\n",
            "notes.txt": "ignored",
        ])
        let p = try Policy.load(directory: dir, daemonUID: 0, resolver: FakeResolver())
        #expect(p.files.count == 2)
        #expect(p.isAdmin(PeerIdentity(uid: 1, gid: 1, pid: 1)) && p.isAdmin(PeerIdentity(uid: 2, gid: 2, pid: 1)))
    }

    @Test func shippedDefaultPolicyGivesTheDaemonUserEveryRole() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Policies").path
        let me = getuid()
        let p = try Policy.load(directory: dir, daemonUID: me)
        let peer = PeerIdentity(uid: me, gid: getgid(), pid: getpid())
        #expect(p.isAdmin(peer) && p.isAuditor(peer) && p.isRunner(peer))
        #expect(p.runnerRule(for: peer, project: "anything")?.mayRedeem(peer) == true)
        #expect(!p.isAdmin(PeerIdentity(uid: 65534, gid: 65534, pid: 1)))
    }

    @Test func systemResolverKnowsRealUsersAndGroups() throws {
        let dir = policyDirectory(["p.yaml": "version: 1\nadmins: { users: [root], groups: [nogroup] }\n"])
        let p = try Policy.load(directory: dir, daemonUID: 1234)
        #expect(p.isAdmin(PeerIdentity(uid: 0, gid: 0, pid: 1)))
        #expect(p.isAdmin(PeerIdentity(uid: 4321, gid: 65534, pid: 1)))
    }
}

@Suite struct PolicyRefusalTests {
    @Test(arguments: [
        ("version: 1\nadmins: { users: [root] \n", "policy_syntax", 3),
        ("version: 1\nadmins: { users: [root] }\ngrnats: []\n", "policy_unknown_key", 3),
        ("version: 2\n", "policy_value", 1),
        ("admins: { uids: [1] }\n", "policy_value", 1),
        ("version: 1\nadmins: { users: [mallory] }\n", "policy_unknown_user", 2),
        ("version: 1\nadmins: { groups: [wheel2] }\n", "policy_unknown_group", 2),
        ("version: 1\nadmins: { users: root }\n", "policy_type", 2),
        ("version: 1\nadmins: {}\n", "policy_value", 2),
        ("version: 1\nrunners:\n  - name: r\n    who: { uids: [1] }\n    projects: [a]\n    grants: [deploy-key]\n    max_ttl: 10 minutes\n    max_uses: 1\n    builds: { uids: [2] }\n", "policy_duration", 7),
        ("version: 1\nrunners:\n  - name: r\n    who: { uids: [1] }\n    projects: [a]\n    grants: [deploy-key]\n    max_ttl: 10m\n    max_uses: 0\n    builds: { uids: [2] }\n", "policy_value", 8),
        ("version: 1\nrunners:\n  - name: r\n    who: { uids: [1] }\n    projects: [a]\n    grants: [ssh]\n    max_ttl: 10m\n    max_uses: 1\n    builds: { uids: [2] }\n", "policy_value", 6),
        ("version: 1\nrunners:\n  - name: r\n    who: { uids: [1] }\n    projects: []\n    grants: [token]\n    max_ttl: 10m\n    max_uses: 1\n    builds: { uids: [2] }\n", "policy_value", 5),
        ("version: 1\nrunners:\n  - name: r\n    who: { uids: [1] }\n    projects: [\"web-[\"]\n    grants: [token]\n    max_ttl: 10m\n    max_uses: 1\n    builds: { uids: [2] }\n", "policy_glob", 5),
        ("version: 1\nrunners:\n  - name: r\n    who: { uids: [1] }\n    projects: [a]\n    grants: [token]\n    max_ttl: 10m\n    max_uses: 1\n", "policy_value", 3),
    ])
    func refusedWithFileLineAndReason(text: String, code: String, line: Int) throws {
        let e = try #require(refusal(text))
        #expect(e.code == code, "\(e)")
        #expect(e.line == line, "\(e)")
        #expect(e.description.contains("p.yaml:\(line)"))
    }

    @Test func anchorsAndAliasesAreRefusedBeforeTheyExpand() throws {
        var laughs = "version: 1\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1...9 { laughs += "a\(i): &a\(i) [*a\(i - 1), *a\(i - 1), *a\(i - 1), *a\(i - 1), *a\(i - 1), *a\(i - 1), *a\(i - 1), *a\(i - 1), *a\(i - 1), *a\(i - 1)]\n" }
        let e = try #require(refusal(laughs))
        #expect(e.code == "policy_syntax" && e.line == 2)
        // Quoted globs with stars are not aliases.
        #expect(try load("version: 1\nrunners:\n  - { name: a, who: { uids: [1] }, projects: [\"*\", \"web-*x\"], grants: [token], max_ttl: 1m, max_uses: 1, builds: { uids: [2] } } # *note\n").runners.count == 1)
    }

    @Test func unknownUserIsNamed() throws {
        let e = try #require(refusal("version: 1\nadmins: { users: [mallory] }\n"))
        #expect(e.reason.contains("mallory"))
    }

    @Test func overlappingRulesForOneRunnerContradict() throws {
        func rules(_ g1: String, _ g2: String, who2: String = "1") -> String {
            """
            version: 1
            runners:
              - { name: a, who: { uids: [1] }, projects: ["\(g1)"], grants: [token], max_ttl: 1m, max_uses: 1, builds: { uids: [9] } }
              - { name: b, who: { uids: [\(who2)] }, projects: ["\(g2)"], grants: [token], max_ttl: 5m, max_uses: 2, builds: { uids: [9] } }
            """
        }
        #expect(refusal(rules("web-*", "web-*"))?.code == "policy_conflict")
        #expect(refusal(rules("web-*", "web-shop"))?.code == "policy_conflict")
        #expect(refusal(rules("*", "api"))?.code == "policy_conflict")
        #expect(refusal(rules("web-*", "web-*-prod"))?.code == "policy_conflict")
        #expect(refusal(rules("web-*", "api-*")) == nil)
        #expect(refusal(rules("web-*", "web-*", who2: "2")) == nil)
        let dupName = "version: 1\nrunners:\n" + String(repeating: "  - { name: a, who: { uids: [1] }, projects: [x], grants: [token], max_ttl: 1m, max_uses: 1, builds: { uids: [9] } }\n", count: 2)
        #expect(refusal(dupName)?.code == "policy_conflict")
    }

    @Test func directoryProblemsAreRefused() throws {
        let empty = policyDirectory([:])
        #expect(throws: PolicyError.self) { try Policy.load(directory: empty, daemonUID: 0, resolver: FakeResolver()) }
        let writable = policyDirectory(["p.yaml": "version: 1\n"])
        chmod(writable + "/p.yaml", 0o666)
        #expect {
            try Policy.load(directory: writable, daemonUID: 0, resolver: FakeResolver())
        } throws: { e in
            (e as? PolicyError)?.code == "policy_permissions" && "\(e)".contains("chmod go-w")
        }
        let big = policyDirectory(["p.yaml": "version: 1\n#" + String(repeating: "x", count: 1 << 20) + "\n"])
        #expect(throws: PolicyError.self) { try Policy.load(directory: big, daemonUID: 0, resolver: FakeResolver()) }
        #expect(throws: PolicyError.self) { try Policy.load(directory: "/nonexistent-policies", daemonUID: 0, resolver: FakeResolver()) }
    }
}

@Suite struct GlobAndDurationTests {
    @Test func globsMatchLikeAShell() throws {
        #expect(try Glob("web-*").matches("web-shop") && !(try Glob("web-*").matches("api")))
        #expect(try Glob("a?c").matches("abc") && !(try Glob("a?c").matches("ac")))
        #expect(try Glob("r[0-9]").matches("r7") && !(try Glob("r[!0-9]").matches("r7")))
        #expect(try Glob("*").matches("") && (try Glob("*x*y*").matches("axbyc")))
        #expect(throws: Glob.Invalid.self) { try Glob("**") }
        #expect(throws: Glob.Invalid.self) { try Glob("[") }
        #expect(throws: Glob.Invalid.self) { try Glob(String(repeating: "a", count: 300)) }
    }

    @Test func hostileGlobsStayLinear() throws {
        let g = try Glob(String(repeating: "*a", count: 100) + "b")
        let name = String(repeating: "a", count: 5000)
        let start = ContinuousClock.now
        #expect(!g.matches(name))
        #expect(ContinuousClock.now - start < .seconds(5))
    }

    @Test func durationsParseStrictly() {
        #expect(PolicyDuration.parse("90s") == .seconds(90))
        #expect(PolicyDuration.parse("1h30m") == .seconds(5400))
        #expect(PolicyDuration.parse("10m") == .seconds(600))
        for bad in ["", "10", "m", "1m1h", "1h1h", "-5m", "1.5h", "10 m", "999999999h", "31d"] {
            #expect(PolicyDuration.parse(bad) == nil, "\(bad)")
        }
        #expect(PolicyDuration.format(.seconds(5400)) == "1h30m")
    }
}
