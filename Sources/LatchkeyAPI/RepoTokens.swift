/// `POST /v1/connections/{name}/app` (admin): a GitHub App's private key, sealed by the
/// client with `crypto_box_seal` to the daemon's intake key (like a token).
public struct GitHubAppPutRequest: Codable, Sendable, Equatable {
    /// The App's id (a number, shown on the App's settings page).
    public var appId: String
    /// The installation to mint from; without it, the installation is looked up per
    /// repository (`GET /repos/{owner}/{repo}/installation`).
    public var installationId: String?
    /// Base64 of the sealed box holding the PEM private key.
    public var sealedKey: String
    /// Seconds the previous version stays usable (default 3600).
    public var graceSeconds: Int64?

    public init(appId: String, installationId: String? = nil, sealedKey: String, graceSeconds: Int64? = nil) {
        self.appId = appId
        self.installationId = installationId
        self.sealedKey = sealedKey
        self.graceSeconds = graceSeconds
    }
}

/// A GitHub App key version: the App, the installation, the key's public fingerprint.
public struct GitHubAppInfo: Codable, Sendable, Equatable {
    public var connection: String
    public var version: Int64
    public var appId: String
    public var installationId: String?
    /// `SHA256:<base64>` of the public key, as GitHub shows it beside the App's keys.
    public var fingerprint: String
    public var bits: Int
    public var state: String
    public var retireAt: String?
    public var revokedAt: String?
    public var createdAt: String

    public init(
        connection: String, version: Int64, appId: String, installationId: String?, fingerprint: String, bits: Int, state: String,
        retireAt: String?, revokedAt: String?, createdAt: String
    ) {
        self.connection = connection
        self.version = version
        self.appId = appId
        self.installationId = installationId
        self.fingerprint = fingerprint
        self.bits = bits
        self.state = state
        self.retireAt = retireAt
        self.revokedAt = revokedAt
        self.createdAt = createdAt
    }
}

/// `GET /v1/session/repo-token` (build, bearer session token): the token minted on the
/// project's server for this session, scoped to its one repository.
public struct ReleasedRepoToken: Codable, Sendable {
    public var connection: String
    /// The server kind (`github-enterprise`, `gitlab`, `bitbucket-server`).
    public var kind: String
    public var token: String
    public var expiresAt: String
    public var permissions: [String]
    public var repository: String
}

/// `GET /v1/minted-tokens` (admin): a token minted for a session, never its value.
public struct MintedTokenInfo: Codable, Sendable, Equatable {
    public var sessionId: String
    public var connection: String
    public var project: String
    public var repository: String
    /// The server's id for the token (`installation:<id>` for a GitHub App token).
    public var serverTokenId: String
    public var permissions: [String]
    public var expiresAt: String
    /// `live`, `revoking` (pending on the server, retried) or `revoked`.
    public var state: String
    public var attempts: Int
    public var nextAttemptAt: String?
    public var lastError: String?
    public var createdAt: String

    public init(
        sessionId: String, connection: String, project: String, repository: String, serverTokenId: String, permissions: [String],
        expiresAt: String, state: String, attempts: Int, nextAttemptAt: String?, lastError: String?, createdAt: String
    ) {
        self.sessionId = sessionId
        self.connection = connection
        self.project = project
        self.repository = repository
        self.serverTokenId = serverTokenId
        self.permissions = permissions
        self.expiresAt = expiresAt
        self.state = state
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
        self.lastError = lastError
        self.createdAt = createdAt
    }
}
