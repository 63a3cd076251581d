package import LatchkeyStore
package import LatchkeyAudit

/// Everything `latchkey serve` needs to start.
package struct DaemonConfiguration: Sendable {
    package var dataDirectory: String
    package var policiesDirectory: String
    package var socketPath: String
    package var keySource: RootKeySource
    package var limits = ServerLimits()
    /// Event-loop threads; nil for one per core.
    package var threads: Int?
    /// Where each signed checkpoint also goes (`--checkpoint-witness PATH|syslog`).
    package var checkpointWitness: CheckpointWitness?
    /// A listening socket handed over by the service manager (socket activation); the
    /// daemon then serves on it instead of binding `socketPath`, and leaves its file alone.
    package var listeningDescriptor: Int32?
    /// The store on another engine, opened and schema-checked by the caller (`serve
    /// --database`: PostgreSQL shared by a fleet); nil for the SQLite file in
    /// `dataDirectory`, which then is only this host's own directory (sockets).
    package var database: (any StoreDatabase)?
    /// The name this daemon's sessions carry (`serve --host-name`; default the system's):
    /// each daemon of a fleet needs its own.
    package var hostName: String?

    package init(dataDirectory: String, policiesDirectory: String, socketPath: String, keySource: RootKeySource) {
        self.dataDirectory = dataDirectory
        self.policiesDirectory = policiesDirectory
        self.socketPath = socketPath
        self.keySource = keySource
    }
}
