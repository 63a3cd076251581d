import LatchkeyAPI
@testable import LatchkeyCore
import Testing

/// What `webhook install` takes: a delivery URL the servers accept, Latchkey's event names.
@Suite struct WebhookRequestTests {
    @Test(arguments: [
        "https://ci.example.test/hooks/web", "http://10.0.0.7:8080/hooks?project=web&x=1", "HTTPS://CI.EXAMPLE.TEST", "https://ci/a/b/c.json",
    ])
    func aURLTheServersTakeIsAccepted(url: String) throws {
        try WebhookInstallRequest(url: url).validate()
    }

    @Test(arguments: [
        "ftp://ci.example.test/x", "https://user:pw@ci.example.test/", "https://ci.example.test/#frag", "https://", "https://ci example.test/",
        "https://-ci.example.test/", "https://ci.example.test/ä", "https://:80/", "https://ci.example.test/a b", "https://ci.example.test\r\nX: y",
        "//ci.example.test/", "https://ci.example.test:80:80/", "",
    ])
    func anyOtherURLIsRefusedNamingTheField(url: String) {
        #expect {
            try WebhookInstallRequest(url: url).validate()
        } throws: { error in
            (error as? APIError)?.code == .badRequest && (error as? APIError)?.message.contains("'url'") == true
        }
    }

    @Test func eventsAreLatchkeysNamesEachOnce() throws {
        try WebhookInstallRequest(url: "https://ci.example.test/", events: ["push", "pull_request", "tag"]).validate()
        for bad in [[], ["push", "push"], ["merge_requests"], ["repo:refs_changed"], ["*"]] {
            #expect(throws: APIError.self, "\(bad)") { try WebhookInstallRequest(url: "https://ci.example.test/", events: bad).validate() }
        }
    }
}
