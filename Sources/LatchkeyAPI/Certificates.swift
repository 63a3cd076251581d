/// `POST /v1/connections/{name}/ca` and `.../ca/rotate` (admin): make the connection's
/// SSH certificate authority, or its next version.
public struct CertificateAuthorityRequest: Codable, Sendable, Equatable {
    /// `ed25519` (default), `ecdsa-p256` or `rsa-3072`.
    public var type: String?
    /// Rotate only: seconds the previous version keeps signing certificates (default 3600).
    public var graceSeconds: Int64?

    public init(type: String? = nil, graceSeconds: Int64? = nil) {
        self.type = type
        self.graceSeconds = graceSeconds
    }
}

/// A version of a connection's CA: public facts only, never its private key.
public struct CertificateAuthorityInfo: Codable, Sendable, Equatable {
    public var connection: String
    public var version: Int64
    public var type: String
    public var fingerprint: String
    /// The public key line for `TrustedUserCAKeys` or a GitHub Enterprise organisation CA
    /// (comment `latchkey-ca:CONNECTION:vN`).
    public var publicKey: String
    public var state: String
    public var retireAt: String?
    public var revokedAt: String?
    public var createdAt: String

    public init(
        connection: String, version: Int64, type: String, fingerprint: String, publicKey: String, state: String, retireAt: String?,
        revokedAt: String?, createdAt: String
    ) {
        self.connection = connection
        self.version = version
        self.type = type
        self.fingerprint = fingerprint
        self.publicKey = publicKey
        self.state = state
        self.retireAt = retireAt
        self.revokedAt = revokedAt
        self.createdAt = createdAt
    }
}

/// `PATCH /v1/connections/{name}/certificate-settings` (admin): what the connection's
/// certificates say. A field given replaces the stored one; one left out is kept.
public struct CertificateSettingsRequest: Codable, Sendable, Equatable {
    public var principals: [String]?
    /// `name` or `name=value` (`permit-pty`, `login@ghe.example=ci-bot`).
    public var extensions: [String]?
    /// The key id to use instead of `latchkey:<project>:<session>:<build>`; empty clears it.
    public var keyIdUsername: String?

    public init(principals: [String]? = nil, extensions: [String]? = nil, keyIdUsername: String? = nil) {
        self.principals = principals
        self.extensions = extensions
        self.keyIdUsername = keyIdUsername
    }
}

/// A connection's certificate settings, and the last serial its CA issued.
public struct CertificateSettingsInfo: Codable, Sendable, Equatable {
    public var connection: String
    public var principals: [String]
    public var extensions: [String]
    public var keyIdUsername: String?
    public var lastSerial: UInt64

    public init(connection: String, principals: [String], extensions: [String], keyIdUsername: String?, lastSerial: UInt64) {
        self.connection = connection
        self.principals = principals
        self.extensions = extensions
        self.keyIdUsername = keyIdUsername
        self.lastSerial = lastSerial
    }
}

/// `GET /v1/session/ssh-cert` (build, bearer session token): the session's key pair and
/// its certificate, for builds that cannot use the session's agent.
public struct ReleasedSSHCertificate: Codable, Sendable {
    public var connection: String
    public var project: String
    public var serial: UInt64
    public var keyId: String
    public var principals: [String]
    /// UTC, `YYYY-MM-DDTHH:MM:SSZ`.
    public var validAfter: String
    public var validBefore: String
    public var caFingerprint: String
    /// The `-cert.pub` line: `ssh-ed25519-cert-v01@openssh.com AAAA… latchkey:PROJECT:SESSION`.
    public var certificate: String
    /// The session key as an unencrypted openssh-key-v1 PEM.
    public var privateKey: String
}
