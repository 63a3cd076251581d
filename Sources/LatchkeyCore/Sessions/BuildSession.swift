package import LatchkeyCrypto
package import LatchkeyStore
package import LatchkeyPolicy

/// A live build session, held in memory (sessions end at daemon restart). Only the
/// keyed hash of its token is kept; the token itself was shown once.
package struct BuildSession: Sendable {
    package var id: String
    package var tokenHash: [UInt8]
    package var project: String
    package var connection: String
    package var buildID: String
    package var runner: PeerCredentials
    /// The policy rule in force when it opened: it decides who may redeem.
    package var rule: RunnerRule
    package var grants: Set<Grant>
    package var maxUses: Int
    package var uses: Int
    package var createdAt: Timestamp
    package var expiresAt: Timestamp
    /// Monotonic deadline: TTL is enforced on ContinuousClock, not the wall clock.
    package var deadline: ContinuousClock.Instant
    /// The versions pinned at open: revoking one ends the session.
    package var deployKeyVersion: Int64?
    package var tokenVersion: Int64?
    package var tokenKind: SecretKind?
    /// The pinned versions' public facts and sealed bytes, read once at open so a release
    /// reads nothing from the store. Rotation and revocation update or end the session.
    package var pinnedKey: PinnedSecret?
    package var pinnedToken: PinnedSecret?
    /// The `ssh-cert` grant: the session's own key pair (guarded memory, never stored) and
    /// its certificate, issued at open.
    package var certificate: SessionCertificate? = nil
    /// The `repo-token` grant: what its minted token carries (checked against the rule
    /// at open; the server's defaults filled in). The token itself is minted at the
    /// first redeem and held in `Vault.mintedTokens`.
    package var repoTokenPermissions: [String] = []
}

/// A pinned secret version: its public facts (state, grace, attributes) and sealed bytes.
package struct PinnedSecret: Sendable {
    package var version: SecretVersion
    package var sealed: SealedSecret
}

/// Why a session ended (also the audit reason code).
package enum SessionEnd: String, Sendable, Error {
    case closed, expired, usedUp = "used-up", revoked, keyRevoked = "key-revoked", tokenRevoked = "token-revoked"
    case projectRemoved = "project-removed", connectionRemoved = "connection-removed", daemonRestart = "daemon-restart"
    /// A policy reload left the session's runner, grants or agent user without a rule.
    case policyChanged = "policy-changed"
    case certificateAuthorityRevoked = "ca-revoked"
}
