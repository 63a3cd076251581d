package import LatchkeyCrypto

/// Checks a webhook delivery the way each server signs it:
/// - GitHub Enterprise: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`
///   (https://docs.github.com/en/enterprise-server@3.14/webhooks/using-webhooks/validating-webhook-deliveries).
/// - GitLab: `X-Gitlab-Token: <secret>` — the secret itself, not a MAC
///   (https://docs.gitlab.com/ee/user/project/integrations/webhooks.html#validate-payloads-by-using-a-secret-token).
/// - Bitbucket Server / DC: `X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, body)>`
///   (https://confluence.atlassian.com/bitbucketserver/manage-webhooks-938025878.html, "Securing your webhook").
/// Comparisons are in constant time, and every candidate secret is tried (the answer's
/// timing does not tell which version matched, or how much of a guess was right).
package enum WebhookSignature {
    package enum Failure: Error, Sendable, Equatable {
        /// The delivery carries no signature header for this server.
        case missingHeader(String)
        /// The header is not in the server's form.
        case malformed(String)
        /// No active or grace version's secret produces it.
        case mismatch
    }

    /// The header the server puts its signature in (lower-case).
    package static func headerName(for kind: SCMServerKind) -> String {
        switch kind {
        case .githubEnterprise: "x-hub-signature-256"
        case .gitlab: "x-gitlab-token"
        case .bitbucketServer: "x-hub-signature"
        }
    }

    /// The version whose secret signed `body`, or why none did.
    package static func verify(
        kind: SCMServerKind, headers: [(name: String, value: String)], body: UnsafeRawBufferPointer,
        secrets: [(version: Int64, secret: SecretBytes)]
    ) -> Result<Int64, Failure> {
        let name = headerName(for: kind)
        let values = headers.filter { $0.name.lowercased() == name }.map(\.value)
        guard let value = values.first else { return .failure(.missingHeader(name)) }
        guard values.count == 1 else { return .failure(.malformed("\(name) appears \(values.count) times")) }
        var matched: Int64?
        switch kind {
        case .gitlab:
            let given = Array(value.utf8)
            for s in secrets where s.secret.constantTimeEquals(given) && matched == nil { matched = s.version }
        case .githubEnterprise, .bitbucketServer:
            let prefix = "sha256="
            guard value.hasPrefix(prefix), let mac = Hex.decode(String(value.dropFirst(prefix.count))), mac.count == HMACSHA256.outputBytes
            else { return .failure(.malformed("\(name) is not sha256=<64 hex digits>")) }
            for s in secrets {
                let expected = HMACSHA256.mac(key: s.secret, message: body)
                if constantTimeEquals(expected, mac), matched == nil { matched = s.version }
            }
        }
        return matched.map { .success($0) } ?? .failure(.mismatch)
    }

    /// The header value a server would send for `body` (for tests and the CLI's help).
    package static func sign(kind: SCMServerKind, secret: SecretBytes, body: [UInt8]) -> String {
        switch kind {
        case .gitlab: secret.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
        case .githubEnterprise, .bitbucketServer: "sha256=" + Hex.encode(HMACSHA256.mac(key: secret, message: body))
        }
    }
}
