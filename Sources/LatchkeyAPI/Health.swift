/// `GET /v1/health`: open to every peer; nothing secret.
public struct HealthResponse: Codable, Sendable, Equatable {
    public var status: String
    public var version: String
    public var uptimeSeconds: Double
    public var keyGeneration: Int64

    public init(status: String, version: String, uptimeSeconds: Double, keyGeneration: Int64) {
        self.status = status
        self.version = version
        self.uptimeSeconds = uptimeSeconds
        self.keyGeneration = keyGeneration
    }
}

/// The version string the daemon and the CLI report.
public let latchkeyVersion = "0.1.0"
