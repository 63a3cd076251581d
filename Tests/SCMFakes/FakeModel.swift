import Foundation

/// Which server a fake imitates.
package enum FakeKind: String, Sendable, CaseIterable {
    case githubEnterprise = "github-enterprise"
    case gitlab
    case bitbucketServer = "bitbucket-server"

    /// Where its REST API lives (what Latchkey's `--api-url` is).
    var apiRoot: String {
        switch self {
        case .githubEnterprise: "/api/v3"
        case .gitlab: "/api/v4"
        case .bitbucketServer: "/rest/api/1.0"
        }
    }
}

/// A request as the fake received it.
package struct RecordedRequest: Sendable {
    package var method: String
    /// Path and query, as sent.
    package var uri: String
    package var headers: [(name: String, value: String)]
    package var body: [UInt8]

    package var path: String { String(uri.split(separator: "?", maxSplits: 1).first ?? "") }
    package func header(_ name: String) -> String? { headers.first { $0.name.lowercased() == name.lowercased() }?.value }
}

/// A failure to inject.
package enum FakeFailure: Sendable {
    /// 401 with the server's "bad credentials" body.
    case unauthorized
    /// 403 for a missing scope or permission, in the server's words.
    case forbiddenScope
    /// The server's "key already in use" answer (422 / 400 / 409).
    case keyInUse
    /// 429 with `Retry-After: seconds`.
    case rateLimited(retryAfter: Int)
    /// 500 with the server's error body.
    case serverError
    /// Any status with a generic body.
    case status(Int)
    /// Read the request and never answer.
    case neverAnswer
    /// Close the connection without an answer.
    case resetConnection
    /// Answer as usual, but only after this long.
    case slow(milliseconds: Int)
}

package struct FakeUser: Sendable {
    package var name: String
    package var id: Int64
    package var token: String
    /// Classic scopes (GitHub `X-OAuth-Scopes`, GitLab token scopes); nil for a GitHub
    /// fine-grained token.
    package var scopes: [String]?
    /// `YYYY-MM-DD` (GitLab) or `YYYY-MM-DD HH:MM:SS UTC` (GitHub), if the token expires.
    package var expiresAt: String?
    package var active: Bool
}

package struct FakeRepository: Sendable {
    package var path: String
    package var id: Int64
    package var admins: Set<String>
    package var readers: Set<String>
}

package struct FakeDeployKey: Sendable, Equatable {
    package var id: Int64
    package var title: String
    package var key: String
    package var write: Bool
}

package struct FakeWebhook: Sendable, Equatable {
    package var id: Int64
    package var url: String
    package var secret: String
    package var events: [String]
}

/// What a route answers.
struct FakeResponse {
    var status: Int
    var headers: [(String, String)] = []
    var body: [UInt8] = []

    static func json(_ status: Int, _ value: Any, headers: [(String, String)] = []) -> FakeResponse {
        let data = (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys])) ?? Data()
        return FakeResponse(status: status, headers: [("Content-Type", "application/json; charset=utf-8")] + headers, body: Array(data))
    }

    static func empty(_ status: Int, headers: [(String, String)] = []) -> FakeResponse {
        FakeResponse(status: status, headers: headers)
    }
}

/// What the fake does with a request.
enum FakeAction {
    case answer(FakeResponse)
    case neverAnswer
    case reset
    case later(FakeResponse, milliseconds: Int)
}

struct FailureRule {
    var failure: FakeFailure
    var remaining: Int
    var method: String?
    var pathContains: String?
}

/// The fake's whole state, under the server's lock.
struct FakeState {
    var users: [FakeUser] = []
    var repositories: [FakeRepository] = []
    var keys: [String: [FakeDeployKey]] = [:]
    var hooks: [String: [FakeWebhook]] = [:]
    /// GitHub Apps and the tokens minted on each server (FakeMintedTokens).
    var mint = FakeMintState()
    var nextID: Int64 = 1000
    var rules: [FailureRule] = []
    var requests: [RecordedRequest] = []
    /// Requests read and not yet answered, and the most there ever were at once.
    var inFlight = 0
    var maxInFlight = 0
    /// Key fingerprints (the key's base64 blob) in use anywhere on the instance.
    func keyInUse(_ key: String) -> String? {
        let blob = FakeState.blob(key)
        for (repo, ks) in keys where ks.contains(where: { FakeState.blob($0.key) == blob }) { return repo }
        return nil
    }

    static func blob(_ key: String) -> String {
        let parts = key.split(separator: " ")
        return parts.count >= 2 ? String(parts[1]) : key
    }

    mutating func newID() -> Int64 {
        nextID += 1
        return nextID
    }

    func user(token: String?) -> FakeUser? {
        guard let token else { return nil }
        return users.first { $0.token == token && $0.active }
    }

    func repository(_ path: String) -> FakeRepository? {
        repositories.first { $0.path.lowercased() == path.lowercased() || String($0.id) == path }
    }
}

/// A parsed request handed to a kind's routes.
struct FakeRequest {
    var method: String
    var path: String
    var query: [String: String]
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    func header(_ name: String) -> String? { headers.first { $0.name.lowercased() == name.lowercased() }?.value }

    var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] }

    /// The token: `Authorization: Bearer|token X`, or GitLab's `PRIVATE-TOKEN: X`.
    var token: String? {
        if let a = header("authorization") {
            for scheme in ["Bearer ", "token "] where a.hasPrefix(scheme) { return String(a.dropFirst(scheme.count)) }
        }
        return header("private-token")
    }

    /// Path segments after the API root, percent-decoded.
    func segments(after root: String) -> [String]? {
        guard path.hasPrefix(root) else { return nil }
        return path.dropFirst(root.count).split(separator: "/").map { String($0).removingPercentEncoding ?? String($0) }
    }
}
