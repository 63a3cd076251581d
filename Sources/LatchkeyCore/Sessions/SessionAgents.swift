package import LatchkeyAudit
package import LatchkeyPolicy
package import LatchkeySSH
import Synchronization

/// What a session's ssh-agent knows: its session, the identities it lists and signs
/// for, whom it serves.
///
/// Proof of the session: an agent is opened with the session token and from then on
/// serves only the uid that opened it (`boundUID`), and only while the session's rule
/// (as the live session holds it, updated by policy reloads) still lets that uid
/// redeem. Revocation: before every signature with the deploy key the agent checks that
/// the session's pinned key version is still that identity's version and still usable
/// (the session table follows rotations), so a revoked or retired version signs nothing
/// even before its sessions are ended. A certificate identity lives as long as its
/// session.
package struct SessionAgentContext: Sendable {
    package let vault: Vault
    package let sessionID: String
    /// In the order the agent lists them (ssh offers them in that order).
    package let identities: [SessionAgentIdentity]
    /// The uid (and its gid) that opened the agent with the session token.
    package let boundUID: UInt32
    package let boundGID: UInt32
    package let target: AuditEntry.Target
    /// Connections per uid to all agents together.
    package let connections: PerUIDConnections
    /// A connection sending no whole request for this long is closed.
    package let requestTimeout: Duration

    /// Whether `peer` may use the agent now; nil, or the refusal code.
    package func refusal(for peer: PeerIdentity) -> RefusalCode? {
        guard peer.uid == boundUID else { return .agentNotYours }
        guard let s = vault.sessions.session(id: sessionID), ContinuousClock.now < s.deadline, s.rule.mayRedeem(peer) else {
            return .peerNotAllowed
        }
        return nil
    }

    /// Whether `identity` may sign now in `live`, the session as the table holds it this
    /// instant (the caller looked it up and checked its deadline): for the deploy key, the
    /// session's pinned version is still the identity's and still usable.
    package func maySign(with identity: SessionAgentIdentity, in live: BuildSession) -> Bool {
        guard let version = identity.deployKeyVersion else { return true }
        guard let pin = live.pinnedKey else { return false }
        return pin.version.version == version && pin.version.isUsable(at: .now())
    }
}

/// One identity of a session agent: the blob ssh sees — a public key, or a whole
/// certificate (PROTOCOL.agent: a certificate's blob is the key blob in
/// IDENTITIES_ANSWER and SIGN_REQUEST) — and the private key that signs for it.
package struct SessionAgentIdentity: Sendable {
    package let blob: [UInt8]
    package let comment: String
    package let signer: DeployKey
    /// The deploy key's pinned version (nil for a session certificate's key).
    package let deployKeyVersion: Int64?

    package init(blob: [UInt8], comment: String, signer: DeployKey, deployKeyVersion: Int64? = nil) {
        self.blob = blob
        self.comment = comment
        self.signer = signer
        self.deployKeyVersion = deployKeyVersion
    }
}

/// A running session agent, as the core sees it.
package protocol SessionAgentHandle: Sendable {
    var sessionID: String { get }
    var socketPath: String { get }
    var fingerprint: String { get }
    /// The uid that opened it: the only one it serves.
    var boundUID: UInt32 { get }
    /// The opener as the policy sees it, for the re-check at a policy reload.
    var boundPeer: PeerIdentity { get }
    /// Closes the socket and removes it.
    func stop()
}

/// Starts session agents. The core holds no socket: the adapter (`LatchkeyServer`)
/// provides the one that listens, and passes it to `Vault.open`.
package protocol SessionAgentFactory: Sendable {
    func start(_ context: SessionAgentContext, under parent: String) throws -> any SessionAgentHandle
}

/// The live session agents, by session id, and the connection counts they share.
package final class SessionAgents: Sendable {
    private let agents = Mutex<[String: any SessionAgentHandle]>([:])
    package let perUID: PerUIDConnections

    package init(connectionsPerUID: Int = VaultLimits().maxAgentConnectionsPerUID) {
        perUID = PerUIDConnections(limit: connectionsPerUID)
    }

    package func agent(for sessionID: String) -> (any SessionAgentHandle)? { agents.withLock { $0[sessionID] } }

    /// Whom each live agent serves, by session id.
    package func boundPeers() -> [String: PeerIdentity] { agents.withLock { $0.mapValues(\.boundPeer) } }

    /// Adds `agent` unless its session has one already; returns the session's agent.
    package func add(_ agent: any SessionAgentHandle) -> any SessionAgentHandle {
        agents.withLock { a in
            if let existing = a[agent.sessionID] { return existing }
            a[agent.sessionID] = agent
            return agent
        }
    }

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
