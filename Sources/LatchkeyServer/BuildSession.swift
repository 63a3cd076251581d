import LatchkeyCrypto
import LatchkeyStore
import LatchkeyPolicy

/// A live build session, held in memory (sessions end at daemon restart). Only the
/// keyed hash of its token is kept; the token itself was shown once.
struct BuildSession: Sendable {
    var id: String
    var tokenHash: [UInt8]
    var project: String
    var connection: String
    var buildID: String
    var runner: PeerCredentials
    /// The policy rule in force when it opened: it decides who may redeem.
    var rule: RunnerRule
    var grants: Set<Grant>
    var maxUses: Int
    var uses: Int
    var createdAt: Timestamp
    var expiresAt: Timestamp
    /// Monotonic deadline: TTL is enforced on ContinuousClock, not the wall clock.
    var deadline: ContinuousClock.Instant
    /// The versions pinned at open: revoking one ends the session.
    var deployKeyVersion: Int64?
    var tokenVersion: Int64?
    var tokenKind: SecretKind?
    /// The pinned versions' public facts and sealed bytes, read once at open so a release
    /// reads nothing from the store. Rotation and revocation update or end the session.
    var pinnedKey: PinnedSecret?
    var pinnedToken: PinnedSecret?
}

/// A pinned secret version: its public facts (state, grace, attributes) and sealed bytes.
struct PinnedSecret: Sendable {
    var version: SecretVersion
    var sealed: SealedSecret
}

/// Why a session ended (also the audit reason code).
enum SessionEnd: String, Sendable, Error {
    case closed, expired, usedUp = "used-up", revoked, keyRevoked = "key-revoked", tokenRevoked = "token-revoked"
    case projectRemoved = "project-removed", connectionRemoved = "connection-removed", daemonRestart = "daemon-restart"
    /// A policy reload left the session's runner, grants or agent user without a rule.
    case policyChanged = "policy-changed"
}
