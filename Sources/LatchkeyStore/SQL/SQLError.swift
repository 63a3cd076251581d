/// An engine's failure, sorted into what the daemon does about it.
package struct SQLError: Error, Sendable, CustomStringConvertible {
    package enum Kind: Sendable {
        /// UNIQUE/CHECK/FOREIGN KEY/trigger refusal (SQLITE_CONSTRAINT, SQLSTATE 23xxx, our
        /// triggers' RAISE / P0001).
        case constraint
        /// Storage or server fault: disk full, I/O, busy/locked, read-only, connection
        /// refused/lost, too many connections, timeout (→ 503, recover).
        case unavailable
        /// PostgreSQL 40001/40P01: the write closure is run again.
        case serialization
        /// Malformed file, wrong schema.
        case corrupt
        case other
    }
    package let kind: Kind
    /// Engine code ("SQLITE_FULL", "SQLSTATE 23505") and message; never bound values.
    package let message: String

    package init(kind: Kind, message: String) {
        self.kind = kind
        self.message = message
    }

    package var description: String { message }

    /// A fault of the storage rather than of one statement's input (unavailable, corrupt,
    /// or a serialization failure the whole transaction is retried for): the caller fails
    /// the whole transaction instead of refusing one request.
    package var isStorageFault: Bool {
        switch kind {
        case .unavailable, .corrupt, .serialization: true
        case .constraint, .other: false
        }
    }
}
