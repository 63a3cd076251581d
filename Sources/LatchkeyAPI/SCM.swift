/// `POST /v1/connections/{name}/verify` (admin): what the server says about the
/// connection's active token.
public struct ConnectionVerifyResult: Codable, Sendable, Equatable {
    public var connection: String
    /// The token's user as the server names it.
    public var user: String
    /// Its scopes; nil where the server lists none (GitHub fine-grained tokens, Bitbucket).
    public var scopes: [String]?
    /// Expiry as the server reports it, if any.
    public var expiresAt: String?
    /// Each scope or permission the connection's projects need and the token lacks.
    public var missing: [String]
    public var ok: Bool
    public var notes: [String]
    public var tokenVersion: Int64

    public init(
        connection: String, user: String, scopes: [String]?, expiresAt: String?, missing: [String], ok: Bool, notes: [String], tokenVersion: Int64
    ) {
        self.connection = connection
        self.user = user
        self.scopes = scopes
        self.expiresAt = expiresAt
        self.missing = missing
        self.ok = ok
        self.notes = notes
        self.tokenVersion = tokenVersion
    }
}

/// `PATCH /v1/connections/{name}` (admin): change a connection's settings.
public struct ConnectionUpdateRequest: Codable, Sendable, Equatable {
    /// An absolute path to a PEM file of CA certificates; "" goes back to the system's store.
    public var caFile: String?

    public init(caFile: String? = nil) { self.caFile = caFile }
}
