/// `POST /v1/connections` (admin).
public struct ConnectionRequest: Codable, Sendable, Equatable {
    public var name: String
    public var kind: String
    public var url: String
    public var apiUrl: String?
    public var sshUrl: String?
    /// An absolute path to a PEM file of the CA certificates to trust for the API.
    public var caFile: String?

    public init(name: String, kind: String, url: String, apiUrl: String? = nil, sshUrl: String? = nil, caFile: String? = nil) {
        self.name = name
        self.kind = kind
        self.url = url
        self.apiUrl = apiUrl
        self.sshUrl = sshUrl
        self.caFile = caFile
    }
}

/// A connection as the API shows it.
public struct ConnectionInfo: Codable, Sendable, Equatable {
    public var name: String
    public var kind: String
    public var url: String
    public var apiUrl: String
    public var sshUrl: String
    public var createdAt: String
    public var projects: [String]
    /// The CA file trusted for the API; nil: the system's store.
    public var caFile: String?

    public init(
        name: String, kind: String, url: String, apiUrl: String, sshUrl: String, createdAt: String, projects: [String], caFile: String? = nil
    ) {
        self.caFile = caFile
        self.name = name
        self.kind = kind
        self.url = url
        self.apiUrl = apiUrl
        self.sshUrl = sshUrl
        self.createdAt = createdAt
        self.projects = projects
    }
}

/// `POST /v1/projects` (admin).
public struct ProjectRequest: Codable, Sendable, Equatable {
    public var name: String
    public var connection: String
    public var repo: String
    /// Latchkey installs the project's deploy keys on the repository itself.
    public var installDeployKey: Bool?
    /// The installed keys may push.
    public var deployKeyWrite: Bool?

    public init(name: String, connection: String, repo: String, installDeployKey: Bool? = nil, deployKeyWrite: Bool? = nil) {
        self.name = name
        self.connection = connection
        self.repo = repo
        self.installDeployKey = installDeployKey
        self.deployKeyWrite = deployKeyWrite
    }
}

/// A project as the API shows it, with its current deploy key if any.
public struct ProjectInfo: Codable, Sendable, Equatable {
    public var name: String
    public var connection: String
    public var repo: String
    public var createdAt: String
    public var deployKey: DeployKeyInfo?
    public var liveSessions: Int
    public var installDeployKey: Bool?
    public var deployKeyWrite: Bool?

    public init(name: String, connection: String, repo: String, createdAt: String, deployKey: DeployKeyInfo?, liveSessions: Int) {
        self.name = name
        self.connection = connection
        self.repo = repo
        self.createdAt = createdAt
        self.deployKey = deployKey
        self.liveSessions = liveSessions
    }
}

/// What a removal destroyed.
public struct RemovalResult: Codable, Sendable, Equatable {
    public var removed: String
    public var destroyedVersions: Int
    public var endedSessions: Int

    public init(removed: String, destroyedVersions: Int, endedSessions: Int) {
        self.removed = removed
        self.destroyedVersions = destroyedVersions
        self.endedSessions = endedSessions
    }
}
