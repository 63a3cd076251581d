/// `POST /v1/connections/{name}/tokens` (admin): a token sealed by the client with
/// `crypto_box_seal` to the daemon's intake key. The plaintext never crosses the socket.
public struct TokenPutRequest: Codable, Sendable, Equatable {
    /// `token` (a personal access token, default) or `oauth-client` (an OAuth client secret).
    public var kind: String?
    public var username: String?
    public var clientId: String?
    public var scopes: [String]?
    /// `YYYY-MM-DD` (UTC): the token is never released from that day on.
    public var expires: String?
    /// Base64 of the sealed box.
    public var sealedToken: String
    /// Seconds the previous version stays usable (default 3600).
    public var graceSeconds: Int64?
    /// Ask the server about the token before storing it (default true; `token` kind only):
    /// refused if the server does not accept it, stored with a warning if it cannot be reached.
    public var verify: Bool?

    public init(
        kind: String? = nil, username: String? = nil, clientId: String? = nil, scopes: [String]? = nil, expires: String? = nil,
        sealedToken: String, graceSeconds: Int64? = nil, verify: Bool? = nil
    ) {
        self.verify = verify
        self.kind = kind
        self.username = username
        self.clientId = clientId
        self.scopes = scopes
        self.expires = expires
        self.sealedToken = sealedToken
        self.graceSeconds = graceSeconds
    }
}

/// A token version: who, what, until when, and a short keyed fingerprint — never the token.
public struct TokenInfo: Codable, Sendable, Equatable {
    public var connection: String
    public var kind: String
    public var version: Int64
    public var username: String?
    public var clientId: String?
    public var scopes: [String]
    public var expires: String?
    public var daysLeft: Int?
    public var expiringSoon: Bool
    public var expired: Bool
    public var state: String
    public var retireAt: String?
    public var revokedAt: String?
    public var createdAt: String
    /// `lk:` + 16 hex digits of a keyed BLAKE2b of the token: tells tokens apart, reveals nothing.
    public var fingerprint: String
    /// Warnings about the token's form (e.g. an unexpected prefix for the server), and
    /// from its verification (not verified, missing scopes, expiry overridden).
    public var warnings: [String]
    /// What the server last said about it; nil when it was never verified (`--no-verify`,
    /// an OAuth client secret, or a version from before verification).
    public var verification: TokenVerificationInfo?
    /// The `--expires` given at put when the server reported another expiry, which
    /// replaced it (`expires` is then the server's); nil otherwise.
    public var expiresGiven: String?

    public init(
        connection: String, kind: String, version: Int64, username: String?, clientId: String?, scopes: [String], expires: String?,
        daysLeft: Int?, expiringSoon: Bool, expired: Bool, state: String, retireAt: String?, revokedAt: String?, createdAt: String,
        fingerprint: String, warnings: [String], verification: TokenVerificationInfo? = nil, expiresGiven: String? = nil
    ) {
        self.verification = verification
        self.expiresGiven = expiresGiven
        self.connection = connection
        self.kind = kind
        self.version = version
        self.username = username
        self.clientId = clientId
        self.scopes = scopes
        self.expires = expires
        self.daysLeft = daysLeft
        self.expiringSoon = expiringSoon
        self.expired = expired
        self.state = state
        self.retireAt = retireAt
        self.revokedAt = revokedAt
        self.createdAt = createdAt
        self.fingerprint = fingerprint
        self.warnings = warnings
    }
}

/// `POST /v1/connections/{name}/tokens/revoke` (admin).
public struct TokenRevokeRequest: Codable, Sendable, Equatable {
    /// `token` (default) or `oauth-client`.
    public var kind: String?
    /// One version; absent: every version not yet revoked.
    public var version: Int64?

    public init(kind: String? = nil, version: Int64? = nil) {
        self.kind = kind
        self.version = version
    }
}
