import LatchkeyCrypto
import LatchkeySCM
import Testing

/// The signature check against the servers' own published example and hostile headers.
@Suite struct WebhookSignatureVectorTests {
    /// GitHub's documentation ("Validating webhook deliveries", testing the signature):
    /// secret "It's a Secret to Everybody", payload "Hello, World!".
    static let secret = "It's a Secret to Everybody"
    static let body = Array("Hello, World!".utf8)
    static let signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

    static func check(_ kind: SCMServerKind, _ headers: [(name: String, value: String)], body: [UInt8] = body) throws -> Result<Int64, WebhookSignature.Failure> {
        var s = Array(secret.utf8)
        let key = try SecretBytes(consuming: &s)
        return body.withUnsafeBytes { WebhookSignature.verify(kind: kind, headers: headers, body: $0, secrets: [(version: 7, secret: key)]) }
    }

    @Test func gitHubsPublishedExampleVerifies() throws {
        #expect(try Self.check(.githubEnterprise, [("X-Hub-Signature-256", Self.signature)]) == .success(7))
        // Header names are case-insensitive (HTTP); Bitbucket signs the same way in its own header.
        #expect(try Self.check(.githubEnterprise, [("x-hub-signature-256", Self.signature.uppercased().replacingOccurrences(of: "SHA256=", with: "sha256="))]) == .success(7))
        #expect(try Self.check(.bitbucketServer, [("X-Hub-Signature", Self.signature)]) == .success(7))
        var s = Array(Self.secret.utf8)
        #expect(WebhookSignature.sign(kind: .githubEnterprise, secret: try SecretBytes(consuming: &s), body: Self.body) == Self.signature)
    }

    @Test(arguments: [
        ("X-Hub-Signature-256", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1"),  // short
        ("X-Hub-Signature-256", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17 "),  // trailing space
        ("X-Hub-Signature-256", "SHA256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"),
        ("X-Hub-Signature-256", "sha1=757107ea0eb2509fc211221cce984b8a37570b6d"),
        ("X-Hub-Signature-256", "sha256=" + String(repeating: "g", count: 64)),
        ("X-Hub-Signature-256", "sha256=" + String(repeating: "ab", count: 4096)),
        ("X-Hub-Signature-256", ""),
        ("X-Hub-Signature", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"),  // Bitbucket's header, not GitHub's
    ])
    func aHeaderNotInGitHubsFormIsRefused(name: String, value: String) throws {
        let r = try Self.check(.githubEnterprise, [(name, value)])
        guard case .failure = r else { Issue.record("accepted \(name): \(value.prefix(80))"); return }
    }

    @Test func theSignatureTwiceIsRefusedEvenWhenOneIsGenuine() throws {
        let r = try Self.check(.githubEnterprise, [("X-Hub-Signature-256", Self.signature), ("x-hub-signature-256", "sha256=" + String(repeating: "0", count: 64))])
        #expect(r == .failure(.malformed("x-hub-signature-256 appears 2 times")))
    }

    @Test func aBodyChangedAnywhereIsRefused() throws {
        for i in Self.body.indices {
            var changed = Self.body
            changed[i] ^= 0x20
            #expect(try Self.check(.githubEnterprise, [("X-Hub-Signature-256", Self.signature)], body: changed) == .failure(.mismatch), "byte \(i)")
        }
        #expect(try Self.check(.githubEnterprise, [("X-Hub-Signature-256", Self.signature)], body: Self.body + [0x0A]) == .failure(.mismatch))
        #expect(try Self.check(.githubEnterprise, [("X-Hub-Signature-256", Self.signature)], body: []) == .failure(.mismatch))
    }

    @Test func gitLabsTokenMustBeTheSecretExactly() throws {
        #expect(try Self.check(.gitlab, [("X-Gitlab-Token", Self.secret)]) == .success(7))
        for wrong in [Self.secret + " ", String(Self.secret.dropLast()), Self.secret.uppercased(), "", Self.signature] {
            #expect(try Self.check(.gitlab, [("X-Gitlab-Token", wrong)]) == .failure(.mismatch), "\(wrong)")
        }
    }
}
