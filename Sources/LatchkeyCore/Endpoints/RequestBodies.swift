package import LatchkeyAPI
import LatchkeyStore
import Foundation
import LatchkeySSH

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

/// Longest free-text field in characters (usernames, client ids, scopes, repositories).
let maxFreeTextCharacters = 256
/// Longest build id in characters.
let maxBuildIDCharacters = 128

extension ConnectionRequest: RequestBody {
    package static let fields: Set<String> = ["name", "kind", "url", "apiUrl", "sshUrl", "caFile"]
    package func validate() throws(APIError) {
        try checkName(name, field: "name", what: "connection")
        for (field, value) in [("url", url), ("apiUrl", apiUrl)] {
            guard let value else { continue }
            guard ConnectionURLPattern.matches(value, ConnectionURLPattern.https) else {
                throw APIError.badRequest("field '\(field)' must be https://HOST[:PORT][/PATH] (no credentials, query or fragment), not '\(Names.printable(value))'")
            }
        }
        if let sshUrl, !ConnectionURLPattern.matches(sshUrl, ConnectionURLPattern.ssh) {
            throw APIError.badRequest("field 'sshUrl' must be ssh://HOST[:PORT], not '\(Names.printable(sshUrl))'")
        }
        if let caFile { try PrintableText.check(caFile, field: "caFile", maxCharacters: maxPathCharacters) }
    }
}

/// Longest file path in characters (a connection's CA file).
let maxPathCharacters = 4096

extension ConnectionUpdateRequest: RequestBody {
    package static let fields: Set<String> = ["caFile"]
    package func validate() throws(APIError) {
        if let caFile { try PrintableText.check(caFile, field: "caFile", maxCharacters: maxPathCharacters, allowEmpty: true) }
    }
}

/// The URLs a connection takes, as docs/openapi.yaml states them (a test holds the two
/// equal): https for web and API, ssh for SSH; a host of DNS labels, a port 1–65535, a
/// path of unreserved characters; no credentials, query or fragment.
package enum ConnectionURLPattern {
    package static let https = #"^https://[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?(/[A-Za-z0-9._~-]+)*/?$"#
    package static let ssh = #"^ssh://[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?$"#

    static func matches(_ text: String, _ pattern: String) -> Bool {
        guard let re = try? NSRegularExpression(pattern: pattern) else { return false }
        return re.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }
}


/// A project or connection name (`Names`), refused as `bad_request` naming the field.
func checkName(_ name: String, field: String, what: String) throws(APIError) {
    do { try Names.validate(name, what: what) } catch { throw APIError.badRequest("field '\(field)': \(error.description)") }
}

extension ProjectUpdateRequest: RequestBody {
    package static let fields: Set<String> = ["installDeployKey", "deployKeyWrite"]
}

extension ProjectRequest: RequestBody {
    package static let fields: Set<String> = ["name", "connection", "repo", "installDeployKey", "deployKeyWrite"]
    package func validate() throws(APIError) {
        try checkName(name, field: "name", what: "project")
        try checkName(connection, field: "connection", what: "connection")
        try PrintableText.check(repo, field: "repo", maxCharacters: maxFreeTextCharacters)
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
    package static let fields: Set<String> = ["kind", "username", "clientId", "scopes", "expires", "sealedToken", "graceSeconds", "verify"]
    package func validate() throws(APIError) {
        if let username { try PrintableText.check(username, field: "username", maxCharacters: maxFreeTextCharacters, allowEmpty: true) }
        if let clientId { try PrintableText.check(clientId, field: "clientId", maxCharacters: maxFreeTextCharacters, allowEmpty: true) }
        for (i, scope) in (scopes ?? []).enumerated() {
            try PrintableText.check(scope, field: "scopes[\(i)]", maxCharacters: maxFreeTextCharacters)
            guard !scope.contains(",") else { throw APIError.badRequest("field 'scopes[\(i)]' must not contain a comma") }
        }
    }
}

extension SessionOpenRequest: RequestBody {
    package static let fields: Set<String> = ["project", "build", "grants", "ttlSeconds", "uses", "permissions"]
    package func validate() throws(APIError) {
        try checkName(project, field: "project", what: "project")
        try PrintableText.check(build, field: "build", maxCharacters: maxBuildIDCharacters)
        let asked = permissions ?? []
        guard asked.count <= maxRepoTokenPermissions else {
            throw APIError.badRequest("field 'permissions' has \(asked.count) entries; at most \(maxRepoTokenPermissions) are taken")
        }
        for (i, p) in asked.enumerated() { try PrintableText.check(p, field: "permissions[\(i)]", maxCharacters: 64) }
    }
}

/// Most permissions a session may ask for its minted repository token.
let maxRepoTokenPermissions = 32

extension GitHubAppPutRequest: RequestBody {
    package static let fields: Set<String> = ["appId", "installationId", "sealedKey", "graceSeconds"]
    package func validate() throws(APIError) {
        for (field, value) in [("appId", appId), ("installationId", installationId)] {
            guard let value else { continue }
            guard (1...20).contains(value.utf8.count), value.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }), value.first != "0" else {
                throw APIError.badRequest("field '\(field)' must be the number GitHub shows for it (1–20 digits), not '\(Names.printable(value))'")
            }
        }
    }
}

extension CertificateAuthorityRequest: OptionalBody {
    package static let fields: Set<String> = ["type", "graceSeconds"]
    package static var empty: Self { Self() }
}

extension CertificateSettingsRequest: RequestBody {
    package static let fields: Set<String> = ["principals", "extensions", "keyIdUsername"]
    // The certificate format's own checks (principals, options, key id) are made by the
    // handler with LatchkeySSH's rules; here only what every free-text field must be.
    package func validate() throws(APIError) {
        for (i, p) in (principals ?? []).enumerated() { try PrintableText.check(p, field: "principals[\(i)]", maxCharacters: maxFreeTextCharacters) }
        for (i, e) in (extensions ?? []).enumerated() {
            try PrintableText.check(e, field: "extensions[\(i)]", maxCharacters: 2 * SSHCertificateOption.maxFieldBytes + 1)
        }
        if let keyIdUsername {
            try PrintableText.check(keyIdUsername, field: "keyIdUsername", maxCharacters: maxFreeTextCharacters, allowEmpty: true)
        }
    }
}

extension MasterKeyRekeyRequest: RequestBody {
    package static let fields: Set<String> = ["keyFile", "sealedPassphrase", "kdf"]
    package func validate() throws(APIError) {
        guard (keyFile == nil) != (sealedPassphrase == nil) else {
            throw APIError(.badRequest, "give exactly one of keyFile or sealedPassphrase")
        }
        if let kdf, kdf != "moderate", kdf != "interactive" { throw APIError(.badRequest, "kdf must be moderate or interactive") }
    }
}
