import Foundation

/// The durable trace of a build session (the live state is the daemon's memory).
/// The token is never stored: only its keyed hash.
package struct BuildSessionRecord: Sendable {
    package var id: String
    package var tokenHash: [UInt8]
    package var project: String
    package var buildID: String
    package var runnerUID: UInt32
    package var grants: [String]
    package var maxUses: Int
    package var createdAt: Timestamp
    package var expiresAt: Timestamp

    package init(
        id: String, tokenHash: [UInt8], project: String, buildID: String, runnerUID: UInt32, grants: [String], maxUses: Int,
        createdAt: Timestamp, expiresAt: Timestamp
    ) {
        self.id = id
        self.tokenHash = tokenHash
        self.project = project
        self.buildID = buildID
        self.runnerUID = runnerUID
        self.grants = grants
        self.maxUses = maxUses
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }

    package func insert(in db: StoreDB) throws {
        try db.execute(
            sql: """
                INSERT INTO session(id, token_hash, project, build_id, runner_uid, grants, max_uses, created_at, expires_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                id, Data(tokenHash), project, buildID, Int64(runnerUID), grants.joined(separator: ","), maxUses,
                createdAt.description, expiresAt.description,
            ])
    }

    package static func end(id: String, reason: String, uses: Int? = nil, in db: StoreDB, now: Timestamp = .now()) throws {
        try db.execute(
            sql: "UPDATE session SET ended_at = ?, end_reason = ?, uses = COALESCE(?, uses) WHERE id = ? AND ended_at IS NULL",
            arguments: [now.description, reason, uses, id])
    }

    /// Ends every session still open (daemon start and stop). Returns how many.
    package static func endAllOpen(reason: String, in db: StoreDB, now: Timestamp = .now()) throws -> Int {
        try db.execute(
            sql: "UPDATE session SET ended_at = ?, end_reason = ? WHERE ended_at IS NULL", arguments: [now.description, reason])
    }

    /// Whether the session's row says it ended.
    package static func hasEnded(id: String, in db: StoreDB) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT ended_at IS NOT NULL FROM session WHERE id = ?", arguments: [id]) ?? true
    }
}
