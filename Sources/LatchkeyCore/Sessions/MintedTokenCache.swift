package import LatchkeyCrypto
package import LatchkeyStore
import Synchronization

/// A session's minted repository token, as its redeems release it.
package struct MintedRepoToken: Sendable {
    /// The token (guarded memory). Also sealed in the store, for its revocation only.
    package var token: SecretBytes
    /// Its `secret_version` / `minted_token` owner (`minted:<session>:<n>`).
    package var owner: String
    package var serverTokenID: String
    package var expiresAt: String
    package var permissions: [String]
    package var repository: String
    package var kind: ConnectionKind
    /// When a redeem mints a fresh one instead (GitHub's one-hour tokens: after 55 min).
    package var refreshAt: ContinuousClock.Instant?
    /// The GitHub App key version that minted it.
    package var appVersion: Int64?
}

/// The minted tokens of live sessions, one per session, minted once however many
/// redeems ask at the same moment: the first starts the mint, the others wait for it.
///
/// State under one lock; a mint runs on its own task (never under the lock). A failed
/// mint leaves nothing behind, so the next redeem tries again.
package final class MintedTokenCache: Sendable {
    private enum Slot {
        case ready(MintedRepoToken)
        case minting(Task<MintedRepoToken, any Error>, previous: MintedRepoToken?)
    }

    private let slots = Mutex<[String: Slot]>([:])

    package init() {}

    /// The session's token if one is ready.
    package func current(_ sessionID: String) -> MintedRepoToken? {
        slots.withLock { if case .ready(let t)? = $0[sessionID] { t } else { nil } }
    }

    /// The session's token: the ready one while `fresh` says so, else the one being
    /// minted, else a new mint (`mint` receives the token it replaces, if any).
    package func obtain(
        _ sessionID: String, fresh: @Sendable (MintedRepoToken) -> Bool,
        mint: @escaping @Sendable (MintedRepoToken?) async throws -> MintedRepoToken
    ) async throws -> MintedRepoToken {
        let task: Task<MintedRepoToken, any Error> = slots.withLock { s in
            switch s[sessionID] {
            case .ready(let t) where fresh(t):
                return Task { t }
            case .minting(let running, _):
                return running
            case .ready(let old):
                let t = Task { try await mint(old) }
                s[sessionID] = .minting(t, previous: old)
                return t
            case nil:
                let t = Task { try await mint(nil) }
                s[sessionID] = .minting(t, previous: nil)
                return t
            }
        }
        do {
            let token = try await task.value
            slots.withLock { s in
                if case .minting(let running, _)? = s[sessionID], running == task { s[sessionID] = .ready(token) }
            }
            return token
        } catch {
            slots.withLock { s in
                if case .minting(let running, let previous)? = s[sessionID], running == task {
                    s[sessionID] = previous.map(Slot.ready)
                }
            }
            throw error
        }
    }

    /// Forgets a session's token (its session ended; the store queues its revocation).
    package func remove(_ sessionID: String) {
        _ = slots.withLock { $0.removeValue(forKey: sessionID) }
    }

    package func removeAll() { slots.withLock { $0.removeAll() } }
}
