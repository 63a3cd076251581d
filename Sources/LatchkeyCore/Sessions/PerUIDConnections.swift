import Synchronization

/// Open connections counted per peer uid against a cap, so that one uid cannot hold
/// every descriptor the daemon has (the global cap still bounds the total). Taken once
/// at accept and given back at close: not on any per-request path.
package final class PerUIDConnections: Sendable {
    package let limit: Int
    private let open = Mutex<[UInt32: Int]>([:])

    package init(limit: Int) { self.limit = limit }

    /// Counts one more connection of `uid`; false (nothing counted) if it already has `limit`.
    package func tryOpen(uid: UInt32) -> Bool {
        open.withLock { counts in
            let n = counts[uid, default: 0]
            guard n < limit else { return false }
            counts[uid] = n + 1
            return true
        }
    }

    package func close(uid: UInt32) {
        open.withLock { counts in
            guard let n = counts[uid] else { return }
            counts[uid] = n > 1 ? n - 1 : nil
        }
    }

    package func count(uid: UInt32) -> Int { open.withLock { $0[uid, default: 0] } }
}
