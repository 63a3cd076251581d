import Foundation
import LatchkeyPolicy
import Testing

/// One broken policy file: what is wrong, the code and the line that must be reported.
struct BrokenPolicy: CustomTestStringConvertible, Sendable {
    var label: String
    var text: String
    var code: String
    /// The error's line is the first line containing this text.
    var marker: String
    var reason: String

    var testDescription: String { label }

    /// The valid policy with `old` replaced by `new`.
    static func edit(
        _ label: String, _ old: String, _ new: String, code: String, marker: String? = nil, reason: String
    ) -> BrokenPolicy {
        precondition(validPolicy.contains(old), old)
        let text = validPolicy.replacingOccurrences(of: old, with: new)
        return BrokenPolicy(label: label, text: text, code: code, marker: marker ?? new.split(separator: "\n").last.map(String.init) ?? new, reason: reason)
    }
}

let brokenPolicies: [BrokenPolicy] = [
    // YAML itself
    .edit("unclosed flow list", "grants: [deploy-key, token]", "grants: [deploy-key, token", code: "policy_bad_yaml", marker: "max_ttl", reason: "not valid YAML"),
    .edit("tab indentation", "    max_uses: 10", "\tmax_uses: 10", code: "policy_bad_yaml", marker: "max_uses", reason: "not valid YAML"),
    .edit("duplicate key", "    max_uses: 10", "    max_uses: 10\n    max_uses: 20", code: "policy_duplicate_key", marker: "max_uses: 10", reason: "'max_uses' appears more than once"),
    .edit("anchor and alias", "auditors: { groups: [security] }", "auditors: &who { groups: [security] }\nextra: *who", code: "policy_bad_yaml", marker: "&who", reason: "anchor or alias"),
    .edit("second document", "version: 1", "version: 1\n---\nversion: 1", code: "policy_bad_yaml", marker: "---", reason: "not valid YAML"),
    .edit("control character", "    max_uses: 10", "    max_uses: 10\u{7}", code: "policy_bad_yaml", reason: "not valid YAML"),
    .edit("merge key", "auditors: { groups: [security] }", "auditors: { <<: { groups: [security] } }", code: "policy_wrong_type", reason: "keys in auditors are plain words"),
    // keys
    .edit("unknown top-level key", "auditors:", "auditorz:", code: "policy_unknown_key", reason: "unknown key 'auditorz' in a policy file (allowed: version, admins, auditors, runners); did you mean 'auditors'?"),
    .edit("unknown rule key", "grants:", "grnats:", code: "policy_unknown_key", reason: "unknown key 'grnats' in a runner rule (allowed: name, who, projects, grants, max_ttl, max_uses, builds, repo_token); did you mean 'grants'?"),
    .edit("unknown identity key", "who: { users: [ci-runner] }", "who: { user: [ci-runner] }", code: "policy_unknown_key", reason: "did you mean 'users'?"),
    .edit("missing version", "version: 1\n", "", code: "policy_missing_key", marker: "admins", reason: "a policy file has no 'version'; start the file with 'version: 1'"),
    .edit("missing rule key", "    max_uses: 10\n", "", code: "policy_missing_key", marker: "- name: linux-runners", reason: "runner rule 'linux-runners' has no 'max_uses'"),
    .edit("identity set naming nobody", "auditors: { groups: [security] }", "auditors: {}", code: "policy_missing_key", reason: "auditors names nobody"),
    // types
    .edit("projects as a string", "projects: [\"web-*\", api]", "projects: \"web-*\"", code: "policy_wrong_type", reason: "must be a list"),
    .edit("quoted number", "max_uses: 10", "max_uses: \"10\"", code: "policy_wrong_type", reason: "runner rule 'linux-runners': max_uses must be a whole number, found the string '10'"),
    .edit("fractional number", "max_uses: 10", "max_uses: 1.5", code: "policy_wrong_type", reason: "must be a whole number"),
    .edit("hexadecimal number", "max_uses: 10", "max_uses: 0x10", code: "policy_wrong_type", reason: "decimal"),
    .edit("uid as a user name", "builds: { users: [build], uids: [2500] }", "builds: { users: [build, 2500] }", code: "policy_wrong_type", reason: "list uids under 'uids'"),
    .edit("boolean as a user name", "who: { users: [ci-runner] }", "who: { users: [no] }", code: "policy_wrong_type", reason: "the boolean no; if you mean the text, quote it"),
    .edit("identity set as a list", "admins: { groups: [ci-admins], uids: [1000] }", "admins: [root]", code: "policy_wrong_type", reason: "admins must be a mapping"),
    BrokenPolicy(label: "runners as a mapping", text: "version: 1\nrunners: { name: x }\n", code: "policy_wrong_type", marker: "runners", reason: "runners must be a list"),
    .edit("quoted version", "version: 1", "version: \"1\"", code: "policy_wrong_type", reason: "version must be a whole number"),
    // versions
    .edit("version 2", "version: 1", "version: 2\nfrobnicate: true", code: "policy_unsupported_version", marker: "version: 2", reason: "version 2 is not supported"),
    .edit("version 0", "version: 1", "version: 0", code: "policy_unsupported_version", reason: "reads policy version 1"),
    // names
    .edit("unknown user", "who: { users: [ci-runner] }", "who: { users: [ci-runer] }", code: "policy_unknown_user", reason: "unknown user 'ci-runer'"),
    .edit("unknown group", "admins: { groups: [ci-admins], uids: [1000] }", "admins: { groups: [ci-admin] }", code: "policy_unknown_group", reason: "unknown group 'ci-admin'"),
    .edit("unknown special user", "who: { users: [ci-runner] }", "who: { users: [$root] }", code: "policy_unknown_user", reason: "the only one is $daemon"),
    .edit("$daemon as a group", "auditors: { groups: [security] }", "auditors: { groups: [$daemon] }", code: "policy_unknown_group", reason: "put it under users"),
    .edit("negative uid", "uids: [1000]", "uids: [-1]", code: "policy_bad_uid", reason: "out of range"),
    .edit("uid -1 as unsigned", "uids: [1000]", "uids: [4294967295]", code: "policy_bad_uid", reason: "out of range"),
    .edit("bad rule name", "name: linux-runners", "name: linux runners", code: "policy_bad_name", reason: "is not allowed"),
    // durations and caps
    .edit("unknown duration unit", "max_ttl: 30m", "max_ttl: 30x", code: "policy_bad_duration", reason: "unknown unit 'x'"),
    .edit("duration without unit", "max_ttl: 30m", "max_ttl: 30", code: "policy_bad_duration", reason: "needs a unit: 30s, 30m or 30h"),
    .edit("fractional duration", "max_ttl: 30m", "max_ttl: 1.5h", code: "policy_bad_duration", reason: "max_ttl: invalid duration '1.5h'"),
    .edit("zero ttl", "max_ttl: 30m", "max_ttl: 0s", code: "policy_bad_cap", reason: "longer than 0s"),
    .edit("ttl above the ceiling", "max_ttl: 30m", "max_ttl: 25h", code: "policy_bad_cap", reason: "ceiling of 24h"),
    .edit("zero uses", "max_uses: 10", "max_uses: 0", code: "policy_bad_cap", reason: "at least 1, found 0"),
    .edit("negative uses", "max_uses: 10", "max_uses: -3", code: "policy_bad_cap", reason: "at least 1, found -3"),
    .edit("uses above the ceiling", "max_uses: 10", "max_uses: 2000000", code: "policy_bad_cap", reason: "ceiling of 1000000"),
    // grants and globs
    .edit("unknown grant", "grants: [deploy-key, token]", "grants: [deploy-key, ssh-key]", code: "policy_unknown_grant", reason: "unknown grant 'ssh-key' in runner rule 'linux-runners' (grants: deploy-key, deploy-key-agent, token, ssh-cert, repo-token)"),
    .edit("agent is not a grant", "grants: [deploy-key, token]", "grants: [agent]", code: "policy_unknown_grant", reason: "unknown grant 'agent'"),
    .edit("empty grants", "grants: [deploy-key, token]", "grants: []", code: "policy_empty_list", reason: "grants is empty"),
    .edit("empty projects", "projects: [\"web-*\", api]", "projects: []", code: "policy_empty_list", reason: "projects is empty"),
    .edit("double star", "projects: [\"web-*\", api]", "projects: [\"web-**\", api]", code: "policy_bad_glob", reason: "'**' is not supported"),
    .edit("unclosed set", "projects: [\"web-*\", api]", "projects: [\"web-[0-9\"]", code: "policy_bad_glob", reason: "never closed"),
    .edit("space in glob", "projects: [\"web-*\", api]", "projects: [\"web *\"]", code: "policy_bad_glob", reason: "cannot be in a project name"),
    .edit("unquoted leading star", "projects: [\"web-*\", api]", "projects: [*-prod]", code: "policy_bad_yaml", reason: "quote globs that start with '*'"),
    // duplicates
    .edit("duplicate grant", "grants: [deploy-key, token]", "grants: [token, token]", code: "policy_duplicate_entry", reason: "listed twice"),
    .edit("duplicate user", "who: { users: [ci-runner] }", "who: { users: [ci-runner, ci-runner] }", code: "policy_duplicate_entry", reason: "listed twice"),
    .edit("duplicate glob", "projects: [\"web-*\", api]", "projects: [api, api]", code: "policy_duplicate_entry", reason: "listed twice"),
]

@Suite struct PolicyRejectionTests {
    @Test func theValidPolicyLoads() throws {
        let dir = PolicyFixture(["x.yaml": validPolicy])
        defer { dir.remove() }
        let policy = try dir.load()
        #expect(policy.runnerRules.map(\.name) == ["linux-runners"])
    }

    @Test(arguments: brokenPolicies)
    func refusesWithFileLineAndReason(_ broken: BrokenPolicy) throws {
        let dir = PolicyFixture(["x.yaml": broken.text])
        defer { dir.remove() }
        let error = try #require(dir.refusal())
        #expect(error.code == broken.code)
        #expect(error.file == dir.path + "/x.yaml")
        #expect(error.line == line(of: broken.marker, in: broken.text), "\(error)")
        #expect(error.reason.contains(broken.reason), "\(error.reason)")
        #expect(error.description == "\(dir.path)/x.yaml:\(error.line ?? 0): \(error.reason)")
    }

    @Test func descriptionReadsLikeACompilerDiagnostic() throws {
        let dir = PolicyFixture(["x.yaml": validPolicy.replacingOccurrences(of: "grants:", with: "grnats:")])
        defer { dir.remove() }
        let error = try #require(dir.refusal())
        #expect(error.description.hasPrefix("\(dir.path)/x.yaml:8: unknown key 'grnats' in a runner rule (allowed: name, who"))
        #expect(error.column == 5)
        #expect(error.code == "policy_unknown_key")
    }

    @Test func anEmptyFileIsRefused() throws {
        let dir = PolicyFixture(["x.yaml": "# nothing here\n"])
        defer { dir.remove() }
        let error = try #require(dir.refusal())
        #expect(error.code == "policy_missing_key")
        #expect(error.reason.contains("version: 1"))
    }

    @Test func aFileThatIsNotUTF8IsRefusedAtItsLine() throws {
        let dir = PolicyFixture([:])
        defer { dir.remove() }
        dir.write("x.yaml", bytes: Array("version: 1\n# caf".utf8) + [0xE9] + Array("\n".utf8))
        let error = try #require(dir.refusal())
        #expect(error.code == "policy_bad_yaml")
        #expect(error.line == 2)
        #expect(error.reason.contains("UTF-8"))
    }

    @Test func deepNestingIsRefusedNotACrash() throws {
        let deep = String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)
        let dir = PolicyFixture(["x.yaml": "version: 1\nadmins: \(deep)\n"])
        defer { dir.remove() }
        let error = try #require(dir.refusal())
        #expect(error.code == "policy_bad_yaml")
        #expect(error.line == 2)
    }

    /// Nested aliases expand to 10^9 nodes; they are refused before the YAML library sees them.
    @Test(.timeLimit(.minutes(1))) func billionLaughsIsRefusedQuickly() throws {
        var text = "version: 1\nx0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        for level in 1...9 {
            let previous = "*a\(level - 1)"
            text += "x\(level): &a\(level) [\(Array(repeating: previous, count: 10).joined(separator: ", "))]\n"
        }
        text += "? *a9\n: boom\n"
        let dir = PolicyFixture(["x.yaml": text])
        defer { dir.remove() }
        let error = try #require(dir.refusal())
        #expect(error.code == "policy_bad_yaml")
        #expect(error.line == 2)
        #expect(error.reason.contains("'&a0'"))
    }

    @Test func aWordLikeAnAliasInACommentIsRefusedWithAHint() throws {
        let dir = PolicyFixture(["x.yaml": validPolicy + "\n# matches *every* project\n"])
        defer { dir.remove() }
        let error = try #require(dir.refusal())
        #expect(error.code == "policy_bad_yaml")
        #expect(error.reason.contains("in a comment write it another way"))
    }

    @Test func globsWithStarsInTheirUsualSpellingsAreNotMistakenForAliases() throws {
        let text = validPolicy.replacingOccurrences(of: "projects: [\"web-*\", api]", with: "projects: [\"*-prod\", 'lib*', web-*, \"[a-z]*x\", \"*\"]")
        let dir = PolicyFixture(["x.yaml": text])
        defer { dir.remove() }
        let policy = try dir.load()
        #expect(policy.runnerRules.first?.projects.map(\.pattern) == ["*-prod", "lib*", "web-*", "[a-z]*x", "*"])
    }

    @Test func controlCharactersInAFileAreEscapedInTheMessage() throws {
        let dir = PolicyFixture(["x.yaml": validPolicy.replacingOccurrences(of: "ci-runner]", with: "\"ci\\e[31m-runner\"]")])
        defer { dir.remove() }
        let error = try #require(dir.refusal())
        #expect(error.code == "policy_unknown_user")
        #expect(!error.description.contains("\u{1b}"))
        #expect(error.description.contains("\\u{1b}"))
    }
}
