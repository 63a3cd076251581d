package import LatchkeyStore

/// Everything `latchkey serve` needs to start.
package struct DaemonConfiguration: Sendable {
    package var dataDirectory: String
    package var policiesDirectory: String
    package var socketPath: String
    package var keySource: RootKeySource
    package var limits = ServerLimits()
    /// Event-loop threads; nil for one per core.
    package var threads: Int?

    package init(dataDirectory: String, policiesDirectory: String, socketPath: String, keySource: RootKeySource) {
        self.dataDirectory = dataDirectory
        self.policiesDirectory = policiesDirectory
        self.socketPath = socketPath
        self.keySource = keySource
    }
}
