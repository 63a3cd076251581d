/// `POST /v1/projects/{name}/deploy-keys` and `.../rotate` (admin).
public struct DeployKeyRequest: Codable, Sendable, Equatable {
    /// `ed25519` (default), `ecdsa-p256`, `rsa-3072` or `rsa-4096`.
    public var type: String?
    /// Rotate only: seconds the previous version stays usable (default 3600).
    public var graceSeconds: Int64?

    public init(type: String? = nil, graceSeconds: Int64? = nil) {
        self.type = type
        self.graceSeconds = graceSeconds
    }
}

/// `POST /v1/projects/{name}/deploy-keys/revoke` and `/v1/connections/{name}/tokens/revoke` (admin).
public struct RevokeRequest: Codable, Sendable, Equatable {
    /// One version; absent: every version not yet revoked.
    public var version: Int64?

    public init(version: Int64? = nil) { self.version = version }
}

/// A deploy-key version: public facts only, never the private key.
public struct DeployKeyInfo: Codable, Sendable, Equatable {
    public var project: String
    public var version: Int64
    public var type: String
    public var bits: Int
    public var fingerprint: String
    /// The `authorized_keys` line with comment `latchkey:PROJECT:vN`.
    public var publicKey: String
    /// `active`, `retiring` or `revoked`.
    public var state: String
    public var retireAt: String?
    public var revokedAt: String?
    public var createdAt: String
    /// Its state on the SCM server when Latchkey installs the project's keys.
    public var install: DeployKeyInstallInfo?

    public init(
        project: String, version: Int64, type: String, bits: Int, fingerprint: String, publicKey: String, state: String,
        retireAt: String?, revokedAt: String?, createdAt: String
    ) {
        self.project = project
        self.version = version
        self.type = type
        self.bits = bits
        self.fingerprint = fingerprint
        self.publicKey = publicKey
        self.state = state
        self.retireAt = retireAt
        self.revokedAt = revokedAt
        self.createdAt = createdAt
    }
}

/// What a revocation did.
public struct RevokeResult: Codable, Sendable, Equatable {
    public var revokedVersions: [Int64]
    public var endedSessions: Int

    public init(revokedVersions: [Int64], endedSessions: Int) {
        self.revokedVersions = revokedVersions
        self.endedSessions = endedSessions
    }
}
