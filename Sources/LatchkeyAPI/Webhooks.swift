/// `POST /v1/projects/{name}/webhook` (admin): install the project's webhook.
public struct WebhookInstallRequest: Codable, Sendable, Equatable {
    /// Where the server delivers: the CI's webhook receiver (`https://…`).
    public var url: String
    /// Latchkey's event names: `push` (default), `pull_request`, `tag`.
    public var events: [String]?

    public init(url: String, events: [String]? = nil) {
        self.url = url
        self.events = events
    }
}

/// `POST /v1/projects/{name}/webhook/rotate` (admin).
public struct WebhookRotateRequest: Codable, Sendable, Equatable {
    /// Seconds the previous secret still verifies (default 3600; 0 ends it at once).
    public var graceSeconds: Int64?

    public init(graceSeconds: Int64? = nil) { self.graceSeconds = graceSeconds }
}

/// A project's webhook: where it delivers and its secret's versions (never a secret).
public struct WebhookInfo: Codable, Sendable, Equatable {
    public var project: String
    public var connection: String
    public var repository: String
    public var url: String
    public var events: [String]
    /// `installing`, `installed`, `updating` (a new secret being set on the server),
    /// `removing` (removal pending) or `removed`.
    public var state: String
    /// The server's id for the hook.
    public var serverHookId: String?
    /// The version whose secret the server signs with (after an update: the new one).
    public var activeVersion: Int64?
    public var versions: [WebhookSecretVersionInfo]
    /// Why the last call to the server for this hook failed.
    public var lastError: String?
    public var createdAt: String

    public init(
        project: String, connection: String, repository: String, url: String, events: [String], state: String, serverHookId: String?,
        activeVersion: Int64?, versions: [WebhookSecretVersionInfo], lastError: String?, createdAt: String
    ) {
        self.project = project
        self.connection = connection
        self.repository = repository
        self.url = url
        self.events = events
        self.state = state
        self.serverHookId = serverHookId
        self.activeVersion = activeVersion
        self.versions = versions
        self.lastError = lastError
        self.createdAt = createdAt
    }
}

/// A webhook secret's version: its state only.
public struct WebhookSecretVersionInfo: Codable, Sendable, Equatable {
    public var version: Int64
    /// `active`, `retiring` (still verifies until `retireAt`) or `revoked`.
    public var state: String
    public var retireAt: String?
    public var createdAt: String

    public init(version: Int64, state: String, retireAt: String?, createdAt: String) {
        self.version = version
        self.state = state
        self.retireAt = retireAt
        self.createdAt = createdAt
    }
}

/// `POST /v1/projects/{name}/webhook/verify` (webhook receiver): the delivery is genuine,
/// signed with this version's secret. (A forged one is answered 403 `bad_signature`.)
public struct WebhookVerifyResult: Codable, Sendable, Equatable {
    public var valid: Bool
    public var version: Int64

    public init(valid: Bool, version: Int64) {
        self.valid = valid
        self.version = version
    }
}
