package import LatchkeyStore
import Synchronization

/// The live sessions, by token hash and by id. Every look and change (a use, an end)
/// holds one lock, so concurrent redeems never exceed the use count; callers on an event
/// loop use it without a hop.
package final class SessionTable: Sendable {
    private let state = Mutex(Sessions())

    var count: Int { state.withLock { $0.byID.count } }

    func insert(_ s: BuildSession) { state.withLock { $0.insert(s) } }

    /// Reserves a place for one more session of runner `uid` if it holds (live and
    /// reserved) fewer than `limit`; the place is taken by `insert(_:reserved:)` or given
    /// back by `cancelReservation`. Concurrent opens cannot pass the cap together.
    func reserve(runner uid: UInt32, limit: Int) -> Bool { state.withLock { $0.reserve(runner: uid, limit: limit) } }

    /// Inserts a session whose place was reserved.
    func insert(_ s: BuildSession, reserved: Bool) {
        state.withLock { t in
            if reserved { t.cancelReservation(runner: s.runner.uid) }
            t.insert(s)
        }
    }

    func cancelReservation(runner uid: UInt32) { state.withLock { $0.cancelReservation(runner: uid) } }

    /// Changes a live session in place (a policy reload gives it its new rule).
    func update(id: String, _ change: (inout BuildSession) -> Void) {
        state.withLock { t in
            guard var s = t.byID[id] else { return }
            change(&s)
            t.byID[id] = s
        }
    }
    package func session(id: String) -> BuildSession? { state.withLock { $0.byID[id] } }
    func session(tokenHash: [UInt8]) -> BuildSession? { state.withLock { $0.session(tokenHash: tokenHash) } }
    package func all() -> [BuildSession] { state.withLock { Array($0.byID.values) } }

    /// Takes one use of a session if it is still live; returns it (after the use) or
    /// why it cannot be used.
    func takeUse(id: String, now: ContinuousClock.Instant) -> Result<BuildSession, SessionEnd> {
        state.withLock { $0.takeUse(id: id, now: now) }
    }

    /// Takes one use of the live session with this token hash if `eligible` says so and a
    /// use is left; nil (and nothing changed) otherwise, whatever the reason.
    func takeUse(tokenHash: [UInt8], now: ContinuousClock.Instant, if eligible: (BuildSession) -> Bool) -> BuildSession? {
        state.withLock { $0.takeUse(tokenHash: tokenHash, now: now, if: eligible) }
    }

    /// Decides a redeem under the table's lock: `decide` sees the live session with this
    /// token hash (nil if none), before the use, and says whether to take one of its uses;
    /// the use is taken in the same critical section, so concurrent redeems never exceed
    /// the use count. Returns what `decide` returned. The session is handed to `decide`
    /// in place, not copied out of the table: `decide` copies out only what its caller needs.
    /// `gone` tells `decide`, when there is no live session, whether the token's session
    /// ended by itself — its last use taken, or its deadline passed — so the answer can
    /// say so (`session_used_up`, `session_expired`) instead of `invalid_session`.
    func redeem<T: Sendable>(tokenHash: [UInt8], _ decide: (_ session: BuildSession?, _ gone: SessionGone?) -> (T, take: Bool)) -> T {
        state.withLock { $0.redeem(tokenHash: tokenHash, decide) }
    }

    /// Remembers, until its deadline, that the session with this token hash used its last
    /// use: a later redeem is answered `session_used_up`, not `invalid_session`.
    func rememberUsedUp(tokenHash: [UInt8], until deadline: ContinuousClock.Instant) {
        state.withLock { $0.gone[tokenHash] = (.usedUp, deadline) }
    }

    /// Gives back a use taken for a release that was then refused before anything was sent.
    func returnUse(id: String) { state.withLock { $0.returnUse(id: id) } }

    @discardableResult
    func remove(_ id: String) -> BuildSession? { state.withLock { $0.remove(id) } }

    /// Ends every session matching `predicate`; returns them.
    func removeAll(where predicate: (BuildSession) -> Bool) -> [BuildSession] { state.withLock { $0.removeAll(where: predicate) } }

    /// A rotation put the versions before `current` of (kind, owner) into their grace
    /// until `retireAt` (now, for no grace): pinned copies follow.
    func retire(kind: SecretKind, owner: String, before current: Int64, at retireAt: Timestamp) {
        state.withLock { $0.retire(kind: kind, owner: owner, before: current, at: retireAt) }
    }

    /// Sessions past their deadline, removed.
    func expire(now: ContinuousClock.Instant) -> [BuildSession] { state.withLock { $0.removeAll { now >= $0.deadline } } }

    /// Forgets the ended sessions whose time to be told apart has passed (a redeem then
    /// reads as invalid).
    func forgetEnded(now: ContinuousClock.Instant) { state.withLock { t in t.gone = t.gone.filter { now < $0.value.until } } }
}

/// How a session that is no longer in the table ended by itself.
package enum SessionGone: Sendable {
    case usedUp, expired

    /// How long a redeem after a session's expiry is still told `session_expired`.
    static let expiredRemembered: Duration = .seconds(600)
}

/// The table's contents; changed only under its lock.
private struct Sessions {
    var byHash: [[UInt8]: String] = [:]
    var byID: [String: BuildSession] = [:]
    /// Places reserved by opens in flight, by runner uid.
    var reserved: [UInt32: Int] = [:]

    mutating func reserve(runner uid: UInt32, limit: Int) -> Bool {
        let live = byID.values.reduce(0) { $0 + ($1.runner.uid == uid ? 1 : 0) }
        guard live + reserved[uid, default: 0] < limit else { return false }
        reserved[uid, default: 0] += 1
        return true
    }

    mutating func cancelReservation(runner uid: UInt32) {
        guard let n = reserved[uid] else { return }
        reserved[uid] = n > 1 ? n - 1 : nil
    }
    /// Token hashes of sessions that ended by themselves: used up (until their deadline)
    /// or expired (for `SessionGone.expiredRemembered` after it).
    var gone: [[UInt8]: (why: SessionGone, until: ContinuousClock.Instant)] = [:]

    mutating func insert(_ s: BuildSession) {
        byID[s.id] = s
        byHash[s.tokenHash] = s.id
    }

    func session(tokenHash: [UInt8]) -> BuildSession? { byHash[tokenHash].flatMap { byID[$0] } }

    mutating func takeUse(id: String, now: ContinuousClock.Instant) -> Result<BuildSession, SessionEnd> {
        guard var s = byID[id] else { return .failure(.closed) }
        if now >= s.deadline {
            remove(id)
            return .failure(.expired)
        }
        guard s.uses < s.maxUses else { return .failure(.usedUp) }
        s.uses += 1
        byID[id] = s
        return .success(s)
    }

    mutating func takeUse(tokenHash: [UInt8], now: ContinuousClock.Instant, if eligible: (BuildSession) -> Bool) -> BuildSession? {
        guard let id = byHash[tokenHash], var s = byID[id], now < s.deadline, s.uses < s.maxUses, eligible(s) else { return nil }
        s.uses += 1
        byID[id] = s
        return s
    }

    mutating func redeem<T: Sendable>(tokenHash: [UInt8], _ decide: (BuildSession?, SessionGone?) -> (T, take: Bool)) -> T {
        guard let id = byHash[tokenHash], byID.index(forKey: id) != nil else {
            let ended = gone[tokenHash].flatMap { ContinuousClock.now < $0.until ? $0.why : nil }
            return decide(nil, ended).0
        }
        // Through the dictionary's in-place access: the session is neither copied out nor back.
        func decideInPlace(_ s: inout BuildSession?) -> T {
            let (result, take) = decide(s, nil)
            if take { s?.uses += 1 }
            return result
        }
        return decideInPlace(&byID[id])
    }

    mutating func returnUse(id: String) {
        if var s = byID[id], s.uses > 0 {
            s.uses -= 1
            byID[id] = s
        }
    }

    @discardableResult
    mutating func remove(_ id: String) -> BuildSession? {
        guard let s = byID.removeValue(forKey: id) else { return nil }
        byHash.removeValue(forKey: s.tokenHash)
        // Past its deadline: whoever removes it (housekeeping, a release that found it
        // expired), a late redeem is still told it expired.
        if ContinuousClock.now >= s.deadline, gone[s.tokenHash] == nil {
            gone[s.tokenHash] = (.expired, s.deadline + SessionGone.expiredRemembered)
        }
        return s
    }

    mutating func removeAll(where predicate: (BuildSession) -> Bool) -> [BuildSession] {
        let ended = byID.values.filter(predicate)
        for s in ended { remove(s.id) }
        return ended
    }

    mutating func retire(kind: SecretKind, owner: String, before current: Int64, at retireAt: Timestamp) {
        for (id, var s) in byID {
            var changed = false
            for keyPath in [\BuildSession.pinnedKey, \BuildSession.pinnedToken] {
                if var p = s[keyPath: keyPath], p.version.kind == kind, p.version.owner == owner, p.version.version < current,
                    p.version.state == .active
                {
                    p.version.state = .retiring
                    p.version.retireAt = retireAt
                    s[keyPath: keyPath] = p
                    changed = true
                }
            }
            if changed { byID[id] = s }
        }
    }
}
