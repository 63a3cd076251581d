package import LatchkeyAudit
import Synchronization

/// Bounds the audit rows refusals write, per peer uid: within each one-second window a
/// uid's first `rowsPerSecond` refusals get their own row, as every request does; past
/// that, refusals are answered the same but only counted, and when the window closes
/// one row per (uid, action, code) says "N refusals of CODE (ACTION) from uid U in the
/// last second". So a flood of bogus tokens costs the disk one row per second and kind,
/// not one synced row per request, and one uid's flood does not use up another's rows.
///
/// One lock, taken once per refusal (never on a granted request).
package final class RefusalLimiter: Sendable {
    /// Refusals of one uid that get their own row per window.
    package static let defaultRowsPerSecond = 20
    package static let window: Duration = .seconds(1)
    static let summaryAction = AuditAction.refusalSummary

    struct Key: Hashable {
        var uid: UInt32
        var role: String
        var action: String
        var reason: String
    }

    private struct State {
        var start: ContinuousClock.Instant
        var rows: [UInt32: Int] = [:]
        var suppressed: [Key: Int] = [:]
    }

    package let rowsPerSecond: Int
    private let state: Mutex<State>

    package init(rowsPerSecond: Int = RefusalLimiter.defaultRowsPerSecond, now: ContinuousClock.Instant = .now) {
        self.rowsPerSecond = rowsPerSecond
        state = Mutex(State(start: now))
    }

    /// Whether this refusal gets its own row; and the summary rows of a window that has
    /// closed meanwhile (to append).
    package func admit(_ entry: AuditEntry, now: ContinuousClock.Instant = .now) -> (ownRow: Bool, summaries: [AuditEntry]) {
        let uid = entry.actor.uid ?? UInt32.max
        return state.withLock { s in
            let closed = Self.rotate(&s, now: now)
            let n = s.rows[uid, default: 0]
            if n < rowsPerSecond {
                s.rows[uid] = n + 1
                return (true, closed)
            }
            s.suppressed[Key(uid: uid, role: entry.actor.role, action: entry.action, reason: entry.reason ?? "refused"), default: 0] += 1
            return (false, closed)
        }
    }

    /// The summary rows of a window that has closed (called every window by the daemon,
    /// so a flood's last second is summarized even when nothing follows it).
    /// With `force` (at stop), the window in progress is summarized too.
    package func flush(now: ContinuousClock.Instant = .now, force: Bool = false) -> [AuditEntry] {
        state.withLock { Self.rotate(&$0, now: now, force: force) }
    }

    private static func rotate(_ s: inout State, now: ContinuousClock.Instant, force: Bool = false) -> [AuditEntry] {
        guard force || now - s.start >= window else { return [] }
        let summaries = s.suppressed.sorted { ($0.key.uid, $0.key.action, $0.key.reason) < ($1.key.uid, $1.key.action, $1.key.reason) }.map {
            AuditEntry(
                actor: .init(role: $0.key.role, uid: $0.key.uid == UInt32.max ? nil : $0.key.uid), action: summaryAction,
                outcome: .denied,
                reason: "\($0.value) refusals of \($0.key.reason) (\($0.key.action)) from uid \($0.key.uid) in the last second")
        }
        s = State(start: now)
        return summaries
    }
}

extension Vault {
    /// Writes a refusal's row unless its uid is past its rows for this second (then it is
    /// counted into a summary row), without waiting: for refusals that answer nothing
    /// (an agent connection closed at accept).
    package func auditRefusal(_ entry: AuditEntry) {
        let (own, summaries) = refusals.admit(entry)
        let rows = (own ? [entry] : []) + summaries
        guard !rows.isEmpty else { return }
        let audit = self.audit
        Task { for row in rows { _ = try? await audit.append(row) } }
    }

    /// Appends the summaries of a closed window (the daemon calls this every window, and
    /// with `force` at stop).
    package func flushRefusalSummaries(force: Bool = false) async {
        for row in refusals.flush(force: force) { _ = try? await audit.append(row) }
    }
}
