/// What the SCM server last said about a token version: at `token put` (unless
/// `--no-verify`) and at the daemon's daily re-verification. Part of `TokenInfo`.
public struct TokenVerificationInfo: Codable, Sendable, Equatable {
    /// `ok`, `missing-scopes`, `rejected`, `unreachable` or `failed`.
    public var state: String
    /// When the server was asked (RFC 3339, UTC).
    public var checkedAt: String
    /// The token's user as the server names it.
    public var user: String?
    /// Its scopes; nil where the server lists none (GitHub fine-grained tokens, Bitbucket).
    public var scopes: [String]?
    /// Expiry as the server reported it, if any.
    public var expiresAt: String?
    /// What the connection's projects need and the token lacks.
    public var missing: [String]
    /// Why it is not `ok` when the server's answer says no more (rejected, unreachable, failed).
    public var message: String?

    public init(
        state: String, checkedAt: String, user: String?, scopes: [String]?, expiresAt: String?, missing: [String], message: String?
    ) {
        self.state = state
        self.checkedAt = checkedAt
        self.user = user
        self.scopes = scopes
        self.expiresAt = expiresAt
        self.missing = missing
        self.message = message
    }
}
