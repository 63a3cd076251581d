import LatchkeyPolicy
import Testing

/// A runner rule in flow style, for building conflict cases.
func rule(_ name: String, who: String, projects: String, ttl: String = "30m") -> String {
    "  - { name: \(name), who: { \(who) }, projects: [\(projects)], grants: [token], max_ttl: \(ttl), max_uses: 5, builds: { users: [build] } }\n"
}

@Suite struct RuleConflictTests {
    @Test(arguments: [
        ("same literal project", "users: [ci-runner]", "api", "users: [ci-runner]", "api", "api"),
        ("identical globs", "users: [ci-runner]", "\"web-*\"", "users: [ci-runner]", "\"web-*\"", "web-"),
        ("globs with a common match", "users: [ci-runner]", "\"web-*\"", "users: [ci-runner]", "\"*-prod\"", "web-prod"),
        ("star and a literal", "users: [ci-runner]", "\"*\"", "users: [ci-runner]", "api", "api"),
        ("user and uid of the same runner", "users: [ci-runner]", "api", "uids: [1001]", "api", "api"),
        ("user and a group it is in", "users: [ci-runner]", "api", "groups: [runners]", "api", "api"),
        ("the same group", "groups: [ci-admins]", "api", "groups: [ci-admins]", "api", "api"),
    ])
    func twoRulesForOneRunnerAndProjectAreRefused(label: String, whoA: String, globA: String, whoB: String, globB: String, example: String) throws {
        let text = "version: 1\nrunners:\n" + rule("first", who: whoA, projects: globA) + rule("second", who: whoB, projects: globB, ttl: "1h")
        let dir = PolicyFixture(["x.yaml": text])
        defer { dir.remove() }
        let error = try #require(dir.refusal())
        #expect(error.code == "policy_conflicting_rules")
        #expect(error.line == 4)
        #expect(error.reason.contains("'second' overlaps runner rule 'first' at \(dir.path)/x.yaml:3"), "\(error.reason)")
        #expect(error.reason.contains("such as '\(example)'"), "\(error.reason)")
    }

    @Test func theConflictNamesTheIdentity() throws {
        let text = "version: 1\nrunners:\n" + rule("first", who: "users: [ci-runner]", projects: "api") + rule("second", who: "groups: [runners]", projects: "api")
        let dir = PolicyFixture(["x.yaml": text])
        defer { dir.remove() }
        let error = try #require(dir.refusal())
        #expect(error.reason.contains("uid 1001 (user ci-runner)"), "\(error.reason)")
    }

    @Test func rulesInDifferentFilesConflictToo() throws {
        let dir = PolicyFixture([
            "a.yaml": "version: 1\nrunners:\n" + rule("first", who: "users: [ci-runner]", projects: "\"web-*\""),
            "b.yaml": "version: 1\nrunners:\n" + rule("second", who: "users: [ci-runner]", projects: "web-shop"),
        ])
        defer { dir.remove() }
        let error = try #require(dir.refusal())
        #expect(error.code == "policy_conflicting_rules")
        #expect(error.file == dir.path + "/b.yaml")
        #expect(error.reason.contains("such as 'web-shop'"))
    }

    @Test(arguments: [
        ("different runners, same projects", "users: [ci-runner]", "\"*\"", "users: [mac-runner]", "\"*\""),
        ("same runner, disjoint globs", "users: [ci-runner]", "\"web-*\"", "users: [ci-runner]", "\"api-*\""),
        ("same runner, disjoint sets", "users: [ci-runner]", "\"v[0-4]\"", "users: [ci-runner]", "\"v[5-9]\""),
        ("same runner, lengths differ", "users: [ci-runner]", "\"a?\"", "users: [ci-runner]", "a"),
        ("different groups without common members", "groups: [ci-admins]", "api", "groups: [security]", "api"),
    ])
    func rulesThatCannotMeetAreAccepted(label: String, whoA: String, globA: String, whoB: String, globB: String) throws {
        let text = "version: 1\nrunners:\n" + rule("first", who: whoA, projects: globA) + rule("second", who: whoB, projects: globB)
        let dir = PolicyFixture(["x.yaml": text])
        defer { dir.remove() }
        #expect(try dir.load().runnerRules.count == 2)
    }
}
