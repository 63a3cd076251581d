import Foundation
import LatchkeyCrypto
import LatchkeySCM
import Testing

/// The client's pure parts: proxy choice, retry timing, messages, signatures.
@Suite struct SCMPureTests {
    @Test func httpsProxyIsUsedExceptForNoProxyHosts() {
        let s = SCMProxySettings.fromEnvironment(["HTTPS_PROXY": "http://user:pw@proxy.corp:3128", "NO_PROXY": "localhost, .internal.example,git.corp:8443"])
        #expect(s.proxy == .init(host: "proxy.corp", port: 3128, basicCredentials: "user:pw"))
        #expect(s.proxy(forHost: "ghe.example.com", port: 443)?.host == "proxy.corp")
        #expect(s.proxy(forHost: "localhost", port: 443) == nil)
        #expect(s.proxy(forHost: "gitlab.internal.example", port: 443) == nil)
        #expect(s.proxy(forHost: "internal.example", port: 443) == nil)
        #expect(s.proxy(forHost: "notinternal.example", port: 443) != nil)
        #expect(s.proxy(forHost: "git.corp", port: 8443) == nil)
        #expect(s.proxy(forHost: "git.corp", port: 443) != nil)
        #expect(SCMProxySettings.fromEnvironment(["https_proxy": "proxy:8080", "no_proxy": "*"]).proxy(forHost: "a", port: 1) == nil)
        #expect(SCMProxySettings.fromEnvironment([:]).proxy == nil)
    }

    @Test func retryAfterIsReadInSecondsOrAsADateAndSpentRateLimitsAsTheirReset() {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        #expect(RetryPolicy.serverWait(SCMResponse(status: 429, headers: [("Retry-After", "7")], body: []), now: now) == .seconds(7))
        let date = SCMResponse(status: 503, headers: [("Retry-After", "Fri, 15 Jan 2027 08:00:30 GMT")], body: [])
        let base = RetryPolicy.httpDate("Fri, 15 Jan 2027 08:00:00 GMT")!
        #expect(RetryPolicy.serverWait(date, now: base) == .seconds(30))
        let github = SCMResponse(status: 403, headers: [("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "1800000042")], body: [])
        #expect(RetryPolicy.serverWait(github, now: now) == .seconds(42))
        let gitlab = SCMResponse(status: 429, headers: [("RateLimit-Remaining", "0"), ("RateLimit-Reset", "1800000005")], body: [])
        #expect(RetryPolicy.serverWait(gitlab, now: now) == .seconds(5))
        let fine = SCMResponse(status: 200, headers: [("x-ratelimit-remaining", "10"), ("x-ratelimit-reset", "1800000042")], body: [])
        #expect(RetryPolicy.serverWait(fine, now: now) == nil)
    }

    @Test func backoffIsJitteredAndCapped() {
        var s = SCMClientSettings()
        s.backoffBase = .milliseconds(100)
        s.backoffCap = .milliseconds(400)
        let p = RetryPolicy(settings: s)
        for n in 1...10 {
            let b = p.backoff(retry: n)
            #expect(b >= .zero && b <= .milliseconds(400))
            if n == 1 { #expect(b <= .milliseconds(100)) }
        }
        #expect(p.shouldRetry(status: 429, method: .POST))
        #expect(p.shouldRetry(status: 503, method: .DELETE))
        #expect(!p.shouldRetry(status: 503, method: .POST))
        #expect(!p.shouldRetry(status: 500, method: .GET))
    }

    @Test func serverMessagesAreSummarisedFromEachServersErrorBodyAndCapped() {
        func summary(_ json: String) -> String { ServerMessage.summary(of: SCMResponse(status: 400, headers: [], body: Array(json.utf8))) }
        #expect(summary(#"{"message":"Validation Failed","errors":[{"resource":"PublicKey","code":"custom","field":"key","message":"key is already in use"}]}"#) == "Validation Failed: key is already in use")
        #expect(summary(#"{"message":{"deploy_key.fingerprint":["has already been taken"]}}"#) == "deploy_key.fingerprint has already been taken")
        #expect(summary(#"{"error":"insufficient_scope","error_description":"The request requires higher privileges."}"#) == "The request requires higher privileges.")
        #expect(summary(#"{"errors":[{"context":null,"message":"Repository does not exist.","exceptionName":"x"}]}"#) == "Repository does not exist.")
        let long = summary("{\"message\":\"" + String(repeating: "é", count: 500) + "\"}")
        #expect(long.count == 201 && long.hasSuffix("…"))
        #expect(summary("line1\nline2\u{1b}[31m") == "line1 line2 [31m")
        #expect(summary("") == "no message")
    }

    @Test func pathSegmentsArePercentEncoded() {
        #expect(SCMPath.segment("acme/platform/web") == "acme%2Fplatform%2Fweb")
        #expect(SCMPath.segments("acme/web") == "/acme/web")
        #expect(SCMPath.segment("a b?#") == "a%20b%3F%23")
    }

    @Test func linkHeadersAreReadForANextPage() {
        #expect(SCMPaging.linkHasNext(#"<https://x/api/v3/repos/a/b/keys?page=2>; rel="next", <https://x/…?page=5>; rel="last""#))
        #expect(!SCMPaging.linkHasNext(#"<https://x/…?page=1>; rel="first""#))
        #expect(!SCMPaging.linkHasNext(nil))
    }

    /// RFC 4231 test case 2 (key "Jefe").
    @Test func hmacSHA256MatchesRFC4231() throws {
        var key = Array("Jefe".utf8)
        let mac = HMACSHA256.mac(key: try SecretBytes(consuming: &key), message: Array("what do ya want for nothing?".utf8))
        #expect(Hex.encode(mac) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test(arguments: SCMServerKind.allCases)
    func webhookSignaturesAreCheckedAgainstEveryLiveVersion(kind: SCMServerKind) throws {
        var a = Array("old-secret-0123456789abcdef".utf8)
        var b = Array("new-secret-fedcba9876543210".utf8)
        let old = try SecretBytes(consuming: &a)
        let new = try SecretBytes(consuming: &b)
        let body = Array(#"{"ref":"refs/heads/main"}"#.utf8)
        let header = WebhookSignature.headerName(for: kind)
        let signedOld = WebhookSignature.sign(kind: kind, secret: old, body: body)
        func verify(_ value: String, _ body: [UInt8], _ secrets: [(Int64, SecretBytes)]) -> Result<Int64, WebhookSignature.Failure> {
            body.withUnsafeBytes { WebhookSignature.verify(kind: kind, headers: [(header, value)], body: $0, secrets: secrets.map { (version: $0.0, secret: $0.1) }) }
        }
        #expect(verify(signedOld, body, [(2, new), (1, old)]) == .success(1))
        #expect(verify(WebhookSignature.sign(kind: kind, secret: new, body: body), body, [(2, new), (1, old)]) == .success(2))
        #expect(verify(signedOld, body, [(2, new)]) == .failure(.mismatch))
        if kind != .gitlab {
            var flipped = body
            flipped[3] ^= 1
            #expect(verify(signedOld, flipped, [(1, old)]) == .failure(.mismatch))
            #expect(verify("sha1=abc", body, [(1, old)]) == .failure(.malformed("\(header) is not sha256=<64 hex digits>")))
        }
        let none = body.withUnsafeBytes { WebhookSignature.verify(kind: kind, headers: [], body: $0, secrets: [(version: 1, secret: old)]) }
        #expect(none == .failure(.missingHeader(header)))
    }
}
