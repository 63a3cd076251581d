import Foundation

/// A repository token minted for a session (table `minted_token`): where its revocation
/// stands. What it is — connection, repository, the server's token id, expiry — is in the
/// attributes of its sealed `secret_version` row (kind `minted-token`, same owner), bound
/// by that row's MAC, so a store writer cannot point a revocation at another token.
package struct MintedTokenRecord: Sendable, Equatable {
    package enum State: String, Sendable {
        /// The server was asked; its answer has not been recorded yet.
        case minting
        /// Held by a live session.
        case live
        /// The session ended; the revocation on the server is pending (retried with
        /// backoff from `nextAttemptAt`).
        case revoking
        /// Revoked on the server (or expired there); the sealed copy is destroyed.
        case revoked
    }

    package var owner: String
    package var sessionID: String
    package var state: State
    package var attempts: Int
    package var nextAttemptAt: Timestamp?
    package var lastError: String?
    package var createdAt: Timestamp
    package var updatedAt: Timestamp
    /// What finds the token on its server by name when no answer was recorded.
    package var intent: [String: String]
}

/// Reads and writes `minted_token` inside a caller's transaction.
package enum MintedTokens {
    /// `minted:<session id>:<n>`: one owner per token, so a refresh never retires the
    /// token it replaces before that one is revoked.
    package static func owner(sessionID: String, sequence: Int) -> String { "minted:\(sessionID):\(sequence)" }

    /// The number the session's next token takes.
    package static func nextSequence(sessionID: String, in db: StoreDB) throws -> Int {
        (try Int.fetchOne(db, sql: "SELECT count(*) FROM minted_token WHERE session_id = ?", arguments: [sessionID]) ?? 0) + 1
    }

    /// Before the server is asked: the row that finds the token by name if its answer is lost.
    package static func recordMinting(owner: String, sessionID: String, intent: [String: String], in db: StoreDB, now: Timestamp = .now()) throws {
        let json = String(decoding: try JSONEncoder.sorted.encode(intent), as: UTF8.self)
        try db.execute(
            sql: "INSERT INTO minted_token(owner, session_id, state, intent, attempts, created_at, updated_at) VALUES (?, ?, 'minting', ?, 0, ?, ?)",
            arguments: [owner, sessionID, json, now.description, now.description])
    }

    /// The server answered with the token (sealed in the same transaction).
    package static func recordLive(owner: String, in db: StoreDB, now: Timestamp = .now()) throws {
        try db.execute(sql: "UPDATE minted_token SET state = 'live', updated_at = ? WHERE owner = ?", arguments: [now.description, owner])
    }

    /// The server refused: nothing was minted, the row goes.
    package static func forget(owner: String, in db: StoreDB) throws {
        try db.execute(sql: "DELETE FROM minted_token WHERE owner = ? AND state = 'minting'", arguments: [owner])
    }

    /// Queues the revocation of the live tokens of `sessionIDs`.
    @discardableResult
    package static func queueRevocation(sessionIDs: [String], in db: StoreDB, now: Timestamp = .now()) throws -> Int {
        guard !sessionIDs.isEmpty else { return 0 }
        return try db.execute(
            sql: "UPDATE minted_token SET state = 'revoking', next_attempt_at = ?, updated_at = ? WHERE state = 'live' AND session_id IN ("
                + sessionIDs.map { _ in "?" }.joined(separator: ",") + ")",
            arguments: [now.description, now.description] + SQLArguments(sessionIDs))
    }

    /// Queues the revocation of every live token and every mint whose answer was never
    /// recorded of the sessions `host` holds (its daemon's start and stop: no session
    /// outlives its daemon). Another host's sessions keep theirs.
    @discardableResult
    package static func queueRevocation(sessionsOfHost host: String, in db: StoreDB, now: Timestamp = .now()) throws -> Int {
        try db.execute(
            sql: """
                UPDATE minted_token SET state = 'revoking', next_attempt_at = ?, updated_at = ?
                WHERE state IN ('live', 'minting') AND session_id IN (SELECT id FROM session WHERE host IN (?, '') AND ended_at IS NULL)
                """,
            arguments: [now.description, now.description, host])
    }

    /// Queues one token's revocation (a refreshed token's predecessor; a mint whose answer
    /// was lost).
    package static func queueRevocation(owner: String, in db: StoreDB, now: Timestamp = .now()) throws {
        try db.execute(
            sql: "UPDATE minted_token SET state = 'revoking', next_attempt_at = ?, updated_at = ? WHERE owner = ? AND state IN ('live', 'minting')",
            arguments: [now.description, now.description, owner])
    }

    /// The server revoked it: the row says so and its sealed copy is destroyed.
    package static func markRevoked(owner: String, in db: StoreDB, now: Timestamp = .now()) throws {
        try db.execute(
            sql: "UPDATE minted_token SET state = 'revoked', next_attempt_at = NULL, last_error = NULL, updated_at = ? WHERE owner = ?",
            arguments: [now.description, owner])
        if try Bool.fetchOne(db, sql: "SELECT 1 FROM secret_version WHERE kind = 'minted-token' AND owner = ? AND state != 'revoked'", arguments: [owner]) == true {
            try SecretVersions.revoke(kind: .mintedToken, owner: owner, version: nil, in: db, now: now)
        }
    }

    package static func markRevokeFailed(owner: String, error: String, nextAttempt: Timestamp, in db: StoreDB, now: Timestamp = .now()) throws {
        try db.execute(
            sql: """
                UPDATE minted_token SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?, updated_at = ?
                WHERE owner = ? AND state = 'revoking'
                """,
            arguments: [nextAttempt.description, String(error.prefix(400)), now.description, owner])
    }

    /// Revocations whose next attempt is due.
    package static func dueRevocations(in db: StoreDB, now: Timestamp = .now()) throws -> [MintedTokenRecord] {
        try db.mapRows(sql: "SELECT * FROM minted_token WHERE state = 'revoking' ORDER BY created_at, owner", MintedTokenRecord.init(row:))
            .compactMap { $0 }
            .filter { ($0.nextAttemptAt ?? now) <= now }
    }

    /// How many tokens are in each state (states with none are absent): what the metrics show.
    package static func countByState(in db: StoreDB) throws -> [MintedTokenRecord.State: Int] {
        var out: [MintedTokenRecord.State: Int] = [:]
        for row in try SQLRow.fetchAll(db, sql: "SELECT state, count(*) AS n FROM minted_token GROUP BY state") {
            if let state = MintedTokenRecord.State(rawValue: row["state"]) { out[state] = row["n"] }
        }
        return out
    }

    /// Tokens in `states` (all when nil), oldest first.
    package static func list(states: [MintedTokenRecord.State]? = nil, sessionID: String? = nil, in db: StoreDB) throws -> [MintedTokenRecord] {
        var clauses: [String] = []
        var args: SQLArguments = []
        if let states {
            guard !states.isEmpty else { return [] }
            clauses.append("state IN (\(states.map { _ in "?" }.joined(separator: ",")))")
            args += SQLArguments(states.map(\.rawValue))
        }
        if let sessionID {
            clauses.append("session_id = ?")
            args += [sessionID]
        }
        let filter = clauses.isEmpty ? "" : " WHERE " + clauses.joined(separator: " AND ")
        return try db.mapRows(sql: "SELECT * FROM minted_token\(filter) ORDER BY created_at, owner", arguments: args, MintedTokenRecord.init(row:))
            .compactMap { $0 }
    }
}

extension MintedTokenRecord {
    init?(row: SQLRow) {
        guard let state = State(rawValue: row["state"]), let created = Timestamp(parsing: row["created_at"]),
            let updated = Timestamp(parsing: row["updated_at"])
        else { return nil }
        owner = row["owner"]
        sessionID = row["session_id"]
        self.state = state
        attempts = row["attempts"]
        nextAttemptAt = (row["next_attempt_at"] as String?).flatMap(Timestamp.init(parsing:))
        lastError = row["last_error"]
        createdAt = created
        updatedAt = updated
        intent = SecretVersion.attributes(row["intent"] ?? "{}")
    }
}
