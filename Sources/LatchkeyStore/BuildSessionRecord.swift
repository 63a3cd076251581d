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
    /// The host whose daemon holds the session (its build redeems there): on a fleet's
    /// shared store, each daemon's start and stop end only its own host's sessions.
    package var host: String

    package init(
        id: String, tokenHash: [UInt8], project: String, buildID: String, runnerUID: UInt32, grants: [String], maxUses: Int,
        createdAt: Timestamp, expiresAt: Timestamp, host: String
    ) {
        self.host = host
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
                INSERT INTO session(id, token_hash, project, build_id, runner_uid, grants, max_uses, created_at, expires_at, host)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                id, Data(tokenHash), project, buildID, Int64(runnerUID), grants.joined(separator: ","), maxUses,
                createdAt.description, expiresAt.description, host,
            ])
    }

    package static func end(id: String, reason: String, uses: Int? = nil, in db: StoreDB, now: Timestamp = .now()) throws {
        try db.execute(
            sql: "UPDATE session SET ended_at = ?, end_reason = ?, uses = COALESCE(?, uses) WHERE id = ? AND ended_at IS NULL",
            arguments: [now.description, reason, uses, id])
    }

    /// Ends every session of `host` still open (its daemon's start and stop), and those of
    /// no host (written before sessions had one). Returns how many.
    package static func endAllOpen(host: String, reason: String, in db: StoreDB, now: Timestamp = .now()) throws -> Int {
        try db.execute(
            sql: "UPDATE session SET ended_at = ?, end_reason = ? WHERE ended_at IS NULL AND host IN (?, '')", arguments: [now.description, reason, host])
    }

    /// The ids of `host`'s sessions still open.
    package static func openIDs(host: String, in db: StoreDB) throws -> [String] {
        try String.fetchAll(db, sql: "SELECT id FROM session WHERE ended_at IS NULL AND host = ?", arguments: [host])
    }

    /// How the session's row says it ended (nil while it is open, or when there is no row).
    package static func endReason(id: String, in db: StoreDB) throws -> String? {
        try SQLRow.fetchAll(db, sql: "SELECT ended_at, end_reason FROM session WHERE id = ?", arguments: [id]).first.flatMap { row in
            (row["ended_at"] as String?) == nil ? nil : (row["end_reason"] as String?) ?? ""
        }
    }

    /// Whether the session's row says it ended.
    package static func hasEnded(id: String, in db: StoreDB) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT ended_at IS NOT NULL FROM session WHERE id = ?", arguments: [id]) ?? true
    }

    /// An open session as its row has it (another host's: the live state is in that daemon).
    package struct Open: Sendable {
        package var id: String
        package var project: String
        package var buildID: String
        package var runnerUID: UInt32
        package var grants: [String]
        package var maxUses: Int
        package var createdAt: String
        package var expiresAt: String
        package var host: String
    }

    /// The sessions other hosts hold: open and not past their expiry.
    package static func openOnOtherHosts(than host: String, in db: StoreDB, now: Timestamp = .now()) throws -> [Open] {
        try SQLRow.fetchAll(
            db, sql: "SELECT * FROM session WHERE ended_at IS NULL AND host NOT IN (?, '') AND expires_at > ? ORDER BY created_at",
            arguments: [host, now.description]
        ).map(open)
    }

    /// Session `id` if it is open on a host other than `host` and not past its expiry.
    package static func openOnOtherHost(id: String, than host: String, in db: StoreDB, now: Timestamp = .now()) throws -> Open? {
        try SQLRow.fetchAll(
            db, sql: "SELECT * FROM session WHERE id = ? AND ended_at IS NULL AND host NOT IN (?, '') AND expires_at > ?",
            arguments: [id, host, now.description]
        ).first.map(open)
    }

    private static func open(_ row: SQLRow) -> Open {
        let uid: Int64 = row["runner_uid"]
        let grants: String = row["grants"]
        return Open(
            id: row["id"], project: row["project"], buildID: row["build_id"], runnerUID: UInt32(truncatingIfNeeded: uid),
            grants: grants.split(separator: ",").map(String.init), maxUses: row["max_uses"], createdAt: row["created_at"],
            expiresAt: row["expires_at"], host: row["host"])
    }
}
