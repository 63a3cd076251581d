package import LatchkeyAudit
package import LatchkeyPolicy
package import LatchkeySSH
import Synchronization

/// What a session's ssh-agent knows: its session, the identities it lists and signs
/// for, who may connect.
package struct SessionAgentContext: Sendable {
    package let vault: Vault
    package let sessionID: String
    /// In the order the agent lists them (ssh offers them in that order).
    package let identities: [SessionAgentIdentity]
    package let rule: RunnerRule
    package let target: AuditEntry.Target
}

/// One identity of a session agent: the blob ssh sees — a public key, or a whole
/// certificate (PROTOCOL.agent: a certificate's blob is the key blob in
/// IDENTITIES_ANSWER and SIGN_REQUEST) — and the private key that signs for it.
package struct SessionAgentIdentity: Sendable {
    package let blob: [UInt8]
    package let comment: String
    package let signer: DeployKey
}

/// A running session agent, as the core sees it.
package protocol SessionAgentHandle: Sendable {
    var sessionID: String { get }
    var socketPath: String { get }
    var fingerprint: String { get }
    /// Closes the socket and removes it and its directory.
    func stop()
}

/// Starts session agents. The core holds no socket: the adapter (`LatchkeyServer`)
/// provides the one that listens, and passes it to `Vault.open`.
package protocol SessionAgentFactory: Sendable {
    func start(_ context: SessionAgentContext, under parent: String) throws -> any SessionAgentHandle
}

/// The live session agents, by session id.
package final class SessionAgents: Sendable {
    private let agents = Mutex<[String: any SessionAgentHandle]>([:])

    package init() {}

    package func agent(for sessionID: String) -> (any SessionAgentHandle)? { agents.withLock { $0[sessionID] } }

    package func add(_ agent: any SessionAgentHandle) { agents.withLock { $0[agent.sessionID] = agent } }

    package func stop(_ sessionID: String) {
        agents.withLock { $0.removeValue(forKey: sessionID) }?.stop()
    }

    package func stopAll() {
        let all = agents.withLock { a in
            defer { a.removeAll() }
            return Array(a.values)
        }
        all.forEach { $0.stop() }
    }
}
