package import LatchkeyAPI

// How the request bodies of LatchkeyAPI are taken: the fields each may carry (any other
// is refused, and so is `null` for any of them — an absent field takes its default, a
// null one is a mistake, never "absent"), which may be empty (`{}`), and the checks each
// makes on itself after decoding. Every refusal here is `bad_request`, the field named.

/// A request body: its fields listed, checked after decoding.
package protocol RequestBody: Decodable, Sendable {
    /// The JSON field names the body may carry.
    static var fields: Set<String> { get }
    func validate() throws(APIError)
}

extension RequestBody {
    package func validate() throws(APIError) {}
}

/// A body whose every field is optional: an empty request body means `{}`.
package protocol OptionalBody: RequestBody {
    /// The body an empty request stands for.
    static var empty: Self { get }
}

/// Longest free-text field (usernames, client ids, scopes, repositories).
let maxFreeTextBytes = 256
/// Longest build id.
let maxBuildIDBytes = 128

extension ConnectionRequest: RequestBody {
    package static let fields: Set<String> = ["name", "kind", "url", "apiUrl", "sshUrl"]
}

extension ProjectRequest: RequestBody {
    package static let fields: Set<String> = ["name", "connection", "repo"]
    package func validate() throws(APIError) {
        try PrintableText.check(repo, field: "repo", maxBytes: maxFreeTextBytes)
    }
}

extension DeployKeyRequest: OptionalBody {
    package static let fields: Set<String> = ["type", "graceSeconds"]
    package static var empty: Self { Self() }
}

extension RevokeRequest: OptionalBody {
    package static let fields: Set<String> = ["version"]
    package static var empty: Self { Self() }
}

extension TokenRevokeRequest: OptionalBody {
    package static let fields: Set<String> = ["kind", "version"]
    package static var empty: Self { Self() }
}

extension TokenPutRequest: RequestBody {
    package static let fields: Set<String> = ["kind", "username", "clientId", "scopes", "expires", "sealedToken", "graceSeconds"]
    package func validate() throws(APIError) {
        if let username { try PrintableText.check(username, field: "username", maxBytes: maxFreeTextBytes, allowEmpty: true) }
        if let clientId { try PrintableText.check(clientId, field: "clientId", maxBytes: maxFreeTextBytes, allowEmpty: true) }
        for (i, scope) in (scopes ?? []).enumerated() {
            try PrintableText.check(scope, field: "scopes[\(i)]", maxBytes: maxFreeTextBytes)
            guard !scope.contains(",") else { throw APIError.badRequest("field 'scopes[\(i)]' must not contain a comma") }
        }
    }
}

extension SessionOpenRequest: RequestBody {
    package static let fields: Set<String> = ["project", "build", "grants", "ttlSeconds", "uses"]
    package func validate() throws(APIError) {
        try PrintableText.check(build, field: "build", maxBytes: maxBuildIDBytes)
    }
}
