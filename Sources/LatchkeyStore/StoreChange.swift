import Foundation

/// One row of the `changes` feed: something a daemon did to a shared store that the other
/// daemons on it must act on (PostgreSQL's triggers write them in the transaction that made
/// the change; on SQLite, which one daemon serves, nothing does).
package struct StoreChange: Sendable, Equatable {
    package enum What: String, Sendable {
        /// A session's row ended (`ref`: its id): by `session revoke` on any host, or by its own daemon.
        case session
        /// A project was removed (`ref`: its name).
        case project
        /// A connection was removed (`ref`: its name).
        case connection
        /// A secret version's state changed (`ref`: "KIND OWNER VERSION").
        case secretVersion = "secret-version"
        /// A key generation was added (`ref`: its number): the master key was rotated.
        case keyGeneration = "key-generation"
    }

    package var id: Int64
    package var what: What
    package var ref: String

    package init(id: Int64, what: What, ref: String) {
        self.id = id
        self.what = what
        self.ref = ref
    }

    /// The newest change's id (0 for none): where a daemon that starts begins to follow.
    package static func newest(in db: StoreDB) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT COALESCE(max(id), 0) FROM changes") ?? 0
    }

    /// The changes after `id`, oldest first, at most `limit`. A kind this build does not know
    /// is skipped (a newer daemon's).
    package static func after(_ id: Int64, limit: Int = 1000, in db: StoreDB) throws -> [StoreChange] {
        try SQLRow.fetchAll(db, sql: "SELECT id, what, ref FROM changes WHERE id > ? ORDER BY id LIMIT ?", arguments: [id, Int64(limit)])
            .compactMap { row in
                What(rawValue: row["what"]).map { StoreChange(id: row["id"], what: $0, ref: row["ref"]) }
            }
    }

    /// Removes the changes older than `cutoff` (every daemon has long read them). Returns how many.
    @discardableResult
    package static func prune(before cutoff: Timestamp, in db: StoreDB) throws -> Int {
        try db.execute(sql: "DELETE FROM changes WHERE time < ?", arguments: [cutoff.description])
    }

    /// The secret version a `secretVersion` change names.
    package var secretVersion: (kind: SecretKind, owner: String, version: Int64)? {
        let parts = ref.split(separator: " ", omittingEmptySubsequences: false)
        guard what == .secretVersion, parts.count == 3, let kind = SecretKind(rawValue: String(parts[0])), let v = Int64(parts[2]) else { return nil }
        return (kind, String(parts[1]), v)
    }
}
