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

/// `PATCH /v1/projects/{name}` (admin): whether Latchkey installs the project's deploy keys.
public struct ProjectUpdateRequest: Codable, Sendable, Equatable {
    public var installDeployKey: Bool?
    public var deployKeyWrite: Bool?

    public init(installDeployKey: Bool? = nil, deployKeyWrite: Bool? = nil) {
        self.installDeployKey = installDeployKey
        self.deployKeyWrite = deployKeyWrite
    }
}

/// Where a deploy-key version stands on its SCM server, when Latchkey installs it.
public struct DeployKeyInstallInfo: Codable, Sendable, Equatable {
    /// `installed`, `removing` (pending, retried with backoff) or `removed`.
    public var state: String
    /// The server's id for the key.
    public var serverKeyId: String
    public var attempts: Int
    public var nextAttemptAt: String?
    /// Why the last removal attempt failed.
    public var lastError: String?

    public init(state: String, serverKeyId: String, attempts: Int, nextAttemptAt: String?, lastError: String?) {
        self.state = state
        self.serverKeyId = serverKeyId
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
        self.lastError = lastError
    }
}
