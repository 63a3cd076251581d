import LatchkeyStore

/// The live sessions, by token hash and by id. An actor: every change to a session
/// (a use, an end) is serialised, so concurrent redeems never exceed the use count.
actor SessionTable {
    private var byHash: [[UInt8]: String] = [:]
    private var byID: [String: BuildSession] = [:]

    var count: Int { byID.count }

    func insert(_ s: BuildSession) {
        byID[s.id] = s
        byHash[s.tokenHash] = s.id
    }

    func session(id: String) -> BuildSession? { byID[id] }

    func session(tokenHash: [UInt8]) -> BuildSession? { byHash[tokenHash].flatMap { byID[$0] } }

    func all() -> [BuildSession] { Array(byID.values) }

    /// Takes one use of a session if it is still live; returns it (after the use) or
    /// why it cannot be used.
    func takeUse(id: String, now: ContinuousClock.Instant) -> Result<BuildSession, SessionEnd> {
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

    /// Gives back a use taken for a release that was then refused before anything was sent.
    func returnUse(id: String) {
        if var s = byID[id], s.uses > 0 {
            s.uses -= 1
            byID[id] = s
        }
    }

    @discardableResult
    func remove(_ id: String) -> BuildSession? {
        guard let s = byID.removeValue(forKey: id) else { return nil }
        byHash.removeValue(forKey: s.tokenHash)
        return s
    }

    /// Ends every session matching `predicate`; returns them.
    func removeAll(where predicate: @Sendable (BuildSession) -> Bool) -> [BuildSession] {
        let ended = byID.values.filter(predicate)
        for s in ended { remove(s.id) }
        return ended
    }

    /// A rotation put the versions before `current` of (kind, owner) into their grace
    /// until `retireAt` (now, for no grace): pinned copies follow.
    func retire(kind: SecretKind, owner: String, before current: Int64, at retireAt: Timestamp) {
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

    /// Sessions past their deadline, removed.
    func expire(now: ContinuousClock.Instant) -> [BuildSession] {
        removeAll { now >= $0.deadline }
    }
}
