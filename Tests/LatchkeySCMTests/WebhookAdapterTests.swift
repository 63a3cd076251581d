import Foundation
import LatchkeyCrypto
import LatchkeySCM
import SCMFakes
import Testing

/// Each adapter's webhook calls against its (faked) server over real TLS: what is sent,
/// what the server keeps, and the errors the servers' own checks give.
@Suite struct WebhookAdapterTests {
    static let secretText = String(repeating: "5e", count: 32)

    @Test(arguments: SCMServerKind.allCases)
    func aHookIsCreatedListedUpdatedAndRemoved(kind: SCMServerKind) async throws {
        let bed = try await Bed.start(kind)
        defer { Task { await bed.stop() } }
        let adapter = try bed.adapter()
        let token = try Bed.secret(Bed.token)
        let hook = SCMWebhook(url: "https://ci.example.test/hooks/web", events: ["push", "tag"])
        let id = try await adapter.installWebhook(hook, repository: bed.repository, secret: try Bed.secret(Self.secretText), token: token)
        let stored = try #require(bed.fake.webhooks(bed.repository).first)
        #expect(String(stored.id) == id && stored.secret == Self.secretText && stored.url == hook.url)
        #expect(try await adapter.listWebhooks(repository: bed.repository, token: token) == [SCMInstalledWebhook(id: id, url: hook.url)])
        let second = String(repeating: "a1", count: 32)
        try await adapter.updateWebhook(id: id, hook, repository: bed.repository, secret: try Bed.secret(second), token: token)
        #expect(bed.fake.webhooks(bed.repository).first?.secret == second)
        #expect(bed.fake.webhooks(bed.repository).first?.id == stored.id)
        try await adapter.removeWebhook(id: id, repository: bed.repository, token: token)
        #expect(bed.fake.webhooks(bed.repository).isEmpty)
        // Removing what is already gone is what was asked.
        try await adapter.removeWebhook(id: id, repository: bed.repository, token: token)
    }

    @Test(arguments: SCMServerKind.allCases)
    func listingHooksFollowsEveryPage(kind: SCMServerKind) async throws {
        let bed = try await Bed.start(kind)
        defer { Task { await bed.stop() } }
        let adapter = try bed.adapter()
        let token = try Bed.secret(Bed.token)
        for i in 0..<105 {
            _ = try await adapter.installWebhook(
                SCMWebhook(url: "https://ci.example.test/\(i)", events: ["push"]), repository: bed.repository, secret: try Bed.secret(Self.secretText),
                token: token)
        }
        let listed = try await adapter.listWebhooks(repository: bed.repository, token: token)
        #expect(listed.count == 105 && Set(listed.map(\.url)).count == 105)
    }

    @Test func gitHubRefusesASecondHookForTheSameURLAndEvents() async throws {
        let bed = try await Bed.start(.githubEnterprise)
        defer { Task { await bed.stop() } }
        let adapter = try bed.adapter()
        let token = try Bed.secret(Bed.token)
        let hook = SCMWebhook(url: "https://ci.example.test/hooks/web", events: ["push"])
        _ = try await adapter.installWebhook(hook, repository: bed.repository, secret: try Bed.secret(Self.secretText), token: token)
        let error = await #expect(throws: SCMError.self) {
            _ = try await adapter.installWebhook(hook, repository: bed.repository, secret: try Bed.secret(Self.secretText), token: token)
        }
        #expect(error?.status == 422 && error?.message.contains("Hook already exists on this repository") == true, "\(String(describing: error))")
    }

    @Test(arguments: SCMServerKind.allCases)
    func aTokenWithoutTheHookScopeOrRoleGetsTheScopesNamed(kind: SCMServerKind) async throws {
        let scopes: [String]?? =
            switch kind {
            case .githubEnterprise: .some(["repo:status"])
            case .gitlab: .some(["read_api"])
            case .bitbucketServer: nil
            }
        let bed = try await Bed.start(kind, scopes: scopes, admin: kind != .bitbucketServer)
        defer { Task { await bed.stop() } }
        let error = await #expect(throws: SCMError.self) {
            _ = try await bed.adapter().installWebhook(
                SCMWebhook(url: "https://ci.example.test/h", events: ["push"]), repository: bed.repository, secret: try Bed.secret(Self.secretText),
                token: try Bed.secret(Bed.token))
        }
        let needs: String =
            switch kind {
            case .githubEnterprise: "admin:repo_hook"
            case .gitlab: "api scope"
            case .bitbucketServer: "REPO_ADMIN"
            }
        #expect(error?.message.contains(needs) == true, "\(String(describing: error))")
        #expect(!(error?.message.contains(Self.secretText) ?? true))
        #expect(bed.fake.webhooks(bed.repository).isEmpty)
    }
}
