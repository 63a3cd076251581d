package import LatchkeyStore
import Foundation
import Synchronization

/// Where a daemon stands in the `changes` feed of a shared store.
///
/// Ids are handed out when a row is inserted, not when its transaction commits, so a
/// change may become visible after a later one (a transaction that took its id first and
/// committed last), or never (its transaction rolled back). The cursor therefore keeps
/// the ids it has taken above `floor` and takes an earlier one when it shows up; a gap
/// still open after `gapPatience` is given up on (no transaction runs that long: the
/// statement timeout is 30 s, and a rolled-back id never comes).
struct ChangeCursor {
    static let gapPatience: Duration = .seconds(60)

    /// Every change up to here has been taken (or given up on).
    private(set) var floor: Int64
    private var taken: Set<Int64> = []
    private var gapSince: ContinuousClock.Instant?

    init(after id: Int64) { floor = id }

    /// The changes of `fetched` (every change above `floor` that is visible now) not taken
    /// before; moves the floor up over what is contiguous.
    mutating func take(_ fetched: [StoreChange], now: ContinuousClock.Instant = .now) -> [StoreChange] {
        let fresh = fetched.filter { $0.id > floor && !taken.contains($0.id) }
        taken.formUnion(fresh.map(\.id))
        let before = floor
        while taken.remove(floor + 1) != nil { floor += 1 }
        if floor != before { gapSince = nil }
        if let lowest = taken.min() {
            // floor + 1 is missing below a taken id: wait for it, then give it up.
            let since = gapSince ?? now
            gapSince = since
            if now - since >= Self.gapPatience {
                floor = lowest
                taken.remove(lowest)
                while taken.remove(floor + 1) != nil { floor += 1 }
                gapSince = taken.isEmpty ? nil : now
            }
        } else {
            gapSince = nil
        }
        return fresh
    }
}

extension Vault {
    /// How often a daemon on a shared store reads the `changes` feed (a notification makes
    /// the next read come at once): a revocation on one host reaches the others' sessions
    /// within this, plus the read.
    static let changesPollInterval: Duration = .milliseconds(500)
    /// How long changes stay in the feed before housekeeping removes them.
    static let changesKeptSeconds: Int64 = 3600

    /// Follows the `changes` feed of a shared store (nothing on SQLite, which one daemon
    /// serves): every `changesPollInterval`, or at once when `wakeups` (the database's
    /// notifications, if it has them) says something was written. The feed is followed
    /// from its newest change at the call, before the daemon serves: what is in it then
    /// happened before any session this daemon opens.
    func startFollowingChanges(wakeups: AsyncStream<Void>?) async throws {
        guard store.engine != .sqlite else { return }
        var cursor = ChangeCursor(after: try await store.database.read { db in try StoreChange.newest(in: db) })
        let woken = WakeFlag()
        let listener = wakeups.map { stream in
            Task {
                for await _ in stream { woken.flag.store(true, ordering: .relaxed) }
            }
        }
        let follower = Task { [self] in
            var lastPrune = ContinuousClock.now
            while !Task.isCancelled {
                // Short naps, so a notification is acted on within 20 ms.
                let due = ContinuousClock.now + Self.changesPollInterval
                while ContinuousClock.now < due && !woken.flag.load(ordering: .relaxed) && !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(20))
                }
                woken.flag.store(false, ordering: .relaxed)
                if Task.isCancelled { break }
                do {
                    let floor = cursor.floor
                    let fetched = try await store.database.read { db in try StoreChange.after(floor, in: db) }
                    let fresh = cursor.take(fetched)
                    if !fresh.isEmpty { await act(on: fresh) }
                } catch {
                    // The store is unreachable: every request fails closed meanwhile; the
                    // next read picks up from the same place.
                    logger.debug("could not read the changes feed: \(error)")
                }
                if ContinuousClock.now - lastPrune >= .seconds(60) {
                    lastPrune = .now
                    let cutoff = Timestamp.now().adding(seconds: -Self.changesKeptSeconds)
                    _ = try? await store.database.write { db in try StoreChange.prune(before: cutoff, in: db) }
                }
            }
        }
        changesFollower.withLock { $0 = (follower, listener) }
    }

    func stopFollowingChanges() {
        changesFollower.withLock { state in
            state?.follower.cancel()
            state?.listener?.cancel()
            state = nil
        }
    }

    /// Takes up the key generation another host's `master-key rotate` added: from then on
    /// this daemon seals under it, and a session's pinned secret, sealed under the old one,
    /// is read again at its next release (`openSealed`), as after a rotation on this host.
    func adoptNewestKeyGeneration() async {
        do {
            let adopted = try await store.database.read { [keyRing] db in try keyRing.adoptNewestGeneration(in: db) }
            if let adopted { logger.notice("key generation \(adopted), added by another host's master-key rotate, is now in use") }
        } catch {
            logger.error("could not take up another host's key generation: \(error)")
        }
    }

    /// Ends the live sessions of this host that another host's change took away: a project
    /// or connection removed, a pinned version revoked, the session's own row ended
    /// (`session revoke` issued on another host). Each end is audited here, by the daemon
    /// that held the session, with the reason the single-host path gives.
    func act(on changes: [StoreChange]) async {
        if changes.contains(where: { $0.what == .keyGeneration }) { await adoptNewestKeyGeneration() }
        let live = sessions.all()
        guard !live.isEmpty else { return }
        let projects = Set(changes.filter { $0.what == .project }.map(\.ref))
        let connections = Set(changes.filter { $0.what == .connection }.map(\.ref))
        let endedIDs = Set(changes.filter { $0.what == .session }.map(\.ref)).intersection(live.map(\.id))
        let versions = changes.compactMap(\.secretVersion)
        let facts: (revoked: Set<String>, endReasons: [String: String])
        do {
            facts = try await store.database.read { db in
                var revoked = Set<String>()
                for v in versions {
                    // A row that is gone, or fails its binding, counts as revoked (fail closed).
                    let state = try? SecretVersions.find(kind: v.kind, owner: v.owner, version: v.version, in: db).state
                    if state == nil || state == .revoked { revoked.insert("\(v.kind.rawValue) \(v.owner) \(v.version)") }
                }
                var reasons: [String: String] = [:]
                for id in endedIDs { reasons[id] = try BuildSessionRecord.endReason(id: id, in: db) }
                return (revoked, reasons)
            }
        } catch {
            logger.error("could not read what another host changed: \(error)")
            return
        }
        func revoked(_ kind: SecretKind, _ owner: String, _ version: Int64?) -> Bool {
            version.map { facts.revoked.contains("\(kind.rawValue) \(owner) \($0)") } ?? false
        }
        var ending: [SessionEnd: Set<String>] = [:]
        for s in live {
            let reason: SessionEnd? =
                if projects.contains(s.project) { .projectRemoved }
                else if connections.contains(s.connection) { .connectionRemoved }
                else if revoked(.deployKey, Project.owner(s.project), s.deployKeyVersion) { .keyRevoked }
                else if let kind = s.tokenKind, revoked(kind, "connection:\(s.connection)", s.tokenVersion) { .tokenRevoked }
                else if revoked(.certificateAuthority, Self.connectionOwner(s.connection), s.certificate?.authorityVersion) { .certificateAuthorityRevoked }
                else if let stored = facts.endReasons[s.id] { SessionEnd(rawValue: stored) ?? .revoked }
                else { nil }
            if let reason { ending[reason, default: []].insert(s.id) }
        }
        for (reason, ids) in ending {
            let ended = await endSessions(reason, requestID: nil) { ids.contains($0.id) }
            if ended > 0 { logger.info("ended \(ended) session(s): \(reason.rawValue) on another host") }
        }
    }
}

/// Set when a notification came; the follower clears it as it reads the feed.
private final class WakeFlag: Sendable {
    let flag = Atomic<Bool>(false)
}
