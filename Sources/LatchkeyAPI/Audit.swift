/// One audit row as `GET /v1/audit` lists it (the same fields as an export line).
public struct AuditRow: Codable, Sendable, Equatable {
    public var type: String
    public var seq: Int64
    public var time: String
    public var role: String
    public var uid: UInt32?
    public var gid: UInt32?
    public var pid: Int32?
    public var session: String?
    public var action: String
    public var connection: String?
    public var project: String?
    public var kind: String?
    public var version: Int64?
    public var outcome: String
    public var reason: String?
    public var requestId: String?
    /// The `X-Request-Id` the client sent (absent when it sent none).
    public var clientRequestId: String?
    /// The host whose daemon wrote the row, on a fleet's shared store (absent on a single host's).
    public var host: String?
    public var prevHash: String
    public var rowHash: String
}

/// `GET /v1/audit/public-key`: the Ed25519 key that signs checkpoints (hex).
public struct AuditPublicKey: Codable, Sendable, Equatable {
    public var publicKey: String

    public init(publicKey: String) { self.publicKey = publicKey }
}
