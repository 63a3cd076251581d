/// `POST /v1/sessions` (runner): open a session for one build of one project.
public struct SessionOpenRequest: Codable, Sendable, Equatable {
    public var project: String
    public var build: String
    /// `deploy-key` and/or `token`.
    public var grants: [String]
    /// Seconds; default 600 (or the policy's cap if lower). More than the policy allows is refused.
    public var ttlSeconds: Int64?
    /// How many redeems; default min(10, the policy's cap). More than the policy allows is refused.
    public var uses: Int?
    /// What the `repo-token` grant's minted token carries (`contents:read`,
    /// `read_repository`, `reporter`, `REPO_READ`, …); default read-only. More than the
    /// runner rule's `repo_token` block allows is refused (`permission_not_allowed`).
    public var permissions: [String]?

    public init(project: String, build: String, grants: [String], ttlSeconds: Int64? = nil, uses: Int? = nil, permissions: [String]? = nil) {
        self.project = project
        self.build = build
        self.grants = grants
        self.ttlSeconds = ttlSeconds
        self.uses = uses
        self.permissions = permissions
    }
}

/// The answer to an open: the token is shown here once and never again.
public struct SessionOpened: Codable, Sendable, Equatable {
    public var id: String
    public var token: String
    public var project: String
    public var grants: [String]
    public var uses: Int
    public var expiresAt: String

    public init(id: String, token: String, project: String, grants: [String], uses: Int, expiresAt: String) {
        self.id = id
        self.token = token
        self.project = project
        self.grants = grants
        self.uses = uses
        self.expiresAt = expiresAt
    }
}

/// A live session as admins and runners see it (never its token).
public struct SessionInfo: Codable, Sendable, Equatable {
    public var id: String
    public var project: String
    public var build: String
    public var runnerUid: UInt32
    public var grants: [String]
    /// Absent for a session another host of a fleet holds: that host keeps the live count.
    public var usesLeft: Int?
    public var maxUses: Int
    public var createdAt: String
    public var expiresAt: String
    public var deployKeyVersion: Int64?
    public var tokenVersion: Int64?
    /// The host whose daemon holds the session (`serve --host-name`).
    public var host: String

    public init(
        id: String, project: String, build: String, runnerUid: UInt32, grants: [String], usesLeft: Int?, maxUses: Int, createdAt: String,
        expiresAt: String, deployKeyVersion: Int64?, tokenVersion: Int64?, host: String
    ) {
        self.host = host
        self.id = id
        self.project = project
        self.build = build
        self.runnerUid = runnerUid
        self.grants = grants
        self.usesLeft = usesLeft
        self.maxUses = maxUses
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.deployKeyVersion = deployKeyVersion
        self.tokenVersion = tokenVersion
    }
}

/// `GET /v1/session/deploy-key` (build, bearer session token): the private key.
public struct ReleasedDeployKey: Codable, Sendable {
    public var project: String
    public var version: Int64
    public var type: String
    public var fingerprint: String
    public var publicKey: String
    /// The unencrypted openssh-key-v1 PEM.
    public var privateKey: String
}

/// `GET /v1/session/token` (build, bearer session token): the token and its username.
public struct ReleasedToken: Codable, Sendable {
    public var connection: String
    public var kind: String
    public var version: Int64
    public var username: String?
    public var clientId: String?
    public var token: String
}

/// `POST /v1/session/agent` (build, bearer session token): the session's ssh-agent socket.
public struct SessionAgentInfo: Codable, Sendable, Equatable {
    /// Point `SSH_AUTH_SOCK` here.
    public var socketPath: String
    public var fingerprint: String
    public var expiresAt: String

    public init(socketPath: String, fingerprint: String, expiresAt: String) {
        self.socketPath = socketPath
        self.fingerprint = fingerprint
        self.expiresAt = expiresAt
    }
}
