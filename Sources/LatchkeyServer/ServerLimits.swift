import LatchkeyCore

/// Size and time limits of the socket API. A request over a size limit is answered
/// 413 / 431 and the connection closed; a connection idle or too slow is closed.
package struct ServerLimits: Sendable {
    /// Largest request body accepted.
    package var maxBodyBytes = 64 * 1024
    /// Largest total of header names and values accepted.
    package var maxHeaderBytes = 16 * 1024
    /// Most headers in one request.
    package var maxHeaderCount = 64
    /// A connection with no request in flight is closed after this.
    package var idleTimeout: Duration = .seconds(30)
    /// A request must arrive whole within this from its first byte (slow clients).
    package var requestTimeout: Duration = .seconds(10)
    /// Most connections open at once; further ones are closed at accept.
    package var maxConnections = 4096
    /// Most connections one peer uid may have open at once (so one uid cannot hold the
    /// whole `maxConnections` and starve the others); further ones are closed at accept.
    package var maxConnectionsPerUID = 256
    /// Most connections one uid may have open to session agents, all agents together.
    package var maxAgentConnectionsPerUID = 64
    /// An agent connection that sends no whole request for this long is closed.
    package var agentRequestTimeout: Duration = .seconds(30)
    /// Refusals of one uid per second that get an audit row of their own; past this they
    /// are counted into one summary row per uid, action and code each second.
    package var refusalRowsPerSecond = 20
    /// Most live sessions one runner uid may hold at once (`session_limit`).
    package var maxSessionsPerRunner = 256
    /// How often the daemon re-verifies each active token with its SCM server.
    package var tokenVerificationInterval: Duration = .seconds(86_400)

    package init() {}
}

extension ServerLimits {
    /// The caps the core keeps on sessions and agents.
    var vault: VaultLimits {
        var v = VaultLimits()
        v.maxSessionsPerRunner = maxSessionsPerRunner
        v.maxAgentConnectionsPerUID = maxAgentConnectionsPerUID
        v.agentRequestTimeout = agentRequestTimeout
        v.refusalRowsPerSecond = refusalRowsPerSecond
        v.tokenVerificationInterval = tokenVerificationInterval
        return v
    }
}
