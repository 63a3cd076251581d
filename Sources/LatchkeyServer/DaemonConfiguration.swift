public import LatchkeyStore

/// Everything `latchkey serve` needs to start.
public struct DaemonConfiguration: Sendable {
    public var dataDirectory: String
    public var policiesDirectory: String
    public var socketPath: String
    public var keySource: RootKeySource
    public var limits = ServerLimits()
    /// Event-loop threads; nil for one per core.
    public var threads: Int?
    /// A listening socket handed over by the service manager (socket activation); the
    /// daemon then serves on it instead of binding `socketPath`, and leaves its file alone.
    public var listeningDescriptor: Int32?

    public init(dataDirectory: String, policiesDirectory: String, socketPath: String, keySource: RootKeySource) {
        self.dataDirectory = dataDirectory
        self.policiesDirectory = policiesDirectory
        self.socketPath = socketPath
        self.keySource = keySource
    }
}
