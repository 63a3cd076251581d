import LatchkeyPolicy
import Testing

/// `webhook_receivers`: who may have webhook deliveries verified, for which projects.
@Suite struct WebhookReceiverPolicyTests {
    static let text = validPolicy + """

        webhook_receivers:
          - name: ci-hooks
            who: { users: [ci-runner], uids: [3100] }
            projects: ["web-*"]
          - name: api-hooks
            who: { uids: [3200] }
            projects: [api]
        """

    @Test func aReceiverIsNamedOnlyForItsRulesProjects() throws {
        let dir = PolicyFixture(["x.yaml": Self.text])
        defer { dir.remove() }
        let policy = try dir.load()
        let hooks = PeerIdentity(uid: 3100, gid: 3100, pid: 1)
        let runner = PeerIdentity(uid: 1001, gid: 1001, pid: 2)
        let api = PeerIdentity(uid: 3200, gid: 3200, pid: 3)
        let admin = PeerIdentity(uid: 1000, gid: 1000, pid: 4)
        #expect(policy.isWebhookReceiver(hooks) && policy.isWebhookReceiver(runner) && policy.isWebhookReceiver(api))
        #expect(!policy.isWebhookReceiver(admin), "an admin is not a receiver unless named")
        #expect(policy.webhookReceiverRule(for: hooks, project: "web-a")?.name == "ci-hooks")
        #expect(policy.webhookReceiverRule(for: hooks, project: "api") == nil)
        #expect(policy.webhookReceiverRule(for: api, project: "api")?.name == "api-hooks")
        #expect(policy.webhookReceiverRule(for: api, project: "web-a") == nil)
        #expect(policy.webhookReceiverRule(for: admin, project: "web-a") == nil)
        // Naming a receiver gives it nothing else.
        #expect(!policy.isAdmin(hooks) && !policy.isAuditor(hooks) && !policy.isRunner(hooks))
    }

    @Test func aPolicyWithoutReceiversNamesNone() throws {
        let dir = PolicyFixture(["x.yaml": validPolicy])
        defer { dir.remove() }
        let policy = try dir.load()
        #expect(policy.webhookReceiverRules.isEmpty)
        #expect(!policy.isWebhookReceiver(PeerIdentity(uid: 1001, gid: 1001, pid: 1)))
    }

    @Test(arguments: [
        ("    projects: [api]", "    projects: [api]\n    grants: [token]", "policy_unknown_key", "unknown key 'grants' in a webhook receiver rule"),
        ("    who: { uids: [3200] }\n", "", "policy_missing_key", "webhook receiver rule 'api-hooks' has no 'who'"),
        ("  - name: api-hooks", "  - name: ci-hooks", "policy_duplicate_name", "webhook receiver rule name 'ci-hooks' is already used"),
        ("  - name: api-hooks", "  - name: \"api hooks\"", "policy_bad_name", "is not allowed"),
        ("projects: [api]", "projects: [\"[\"]", "policy_bad_glob", "webhook receiver rule 'api-hooks'"),
    ])
    func aBrokenReceiverRuleIsRefusedWithItsLine(old: String, new: String, code: String, reason: String) throws {
        #expect(Self.text.contains(old))
        let text = Self.text.replacingOccurrences(of: old, with: new)
        let dir = PolicyFixture(["x.yaml": text])
        defer { dir.remove() }
        let error = try #require(dir.refusal())
        #expect(error.code == code, "\(error)")
        #expect(error.description.contains(reason), "\(error)")
        #expect(error.description.contains("x.yaml:"), "\(error)")
    }
}
