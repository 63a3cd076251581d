import Foundation

/// What an SCM server last said about one token version (table `token_verification`):
/// at `token put` unless `--no-verify`, and at the daemon's daily re-verification.
package struct TokenVerificationRecord: Sendable, Equatable {
    package enum State: String, Sendable, CaseIterable {
        /// The server accepts the token and it may do what the connection's projects need.
        case ok
        /// Accepted, but a scope or permission the projects need is missing (`missing`).
        case missingScopes = "missing-scopes"
        /// The server does not accept it (401, or it reports the token revoked / inactive).
        case rejected
        /// No answer: network, TLS, timeout, 5xx or a spent rate limit (`message`).
        case unreachable
        /// The server answered something Latchkey could not use (`message`).
        case failed
    }

    package var state: State
    package var checkedAt: Timestamp
    package var user: String?
    /// Nil where the server lists none (GitHub fine-grained tokens, Bitbucket).
    package var scopes: [String]?
    /// As the server reported it (RFC 3339 time or `YYYY-MM-DD`).
    package var expiresAt: String?
    package var missing: [String]
    /// The error, for rejected / unreachable / failed (no token in it: `SCMError`'s rule).
    package var message: String?

    package init(
        state: State, checkedAt: Timestamp, user: String? = nil, scopes: [String]? = nil, expiresAt: String? = nil, missing: [String] = [],
        message: String? = nil
    ) {
        self.state = state
        self.checkedAt = checkedAt
        self.user = user
        self.scopes = scopes
        self.expiresAt = expiresAt
        self.missing = missing
        self.message = message
    }
}

/// Reads and writes `token_verification` inside a caller's transaction. Every row is
/// bound by its MAC (docs/STORE.md, `lkrowmac` id 8) to its version's owner, number and
/// creation time; a row that fails is `StoreError.bindingFailed`.
package enum TokenVerifications {
    /// The version's row joined with what its MAC covers.
    static let selection = """
        SELECT t.*, v.owner, v.version, v.created_at AS version_created_at FROM token_verification t
        JOIN secret_version v ON v.id = t.secret_version_id
        """

    /// Records the latest result for a version (replacing an older one).
    package static func save(_ r: TokenVerificationRecord, owner: String, version: Int64, in db: StoreDB) throws {
        guard let row = try SQLRow.fetchOne(
            db, sql: "SELECT id, created_at FROM secret_version WHERE kind = 'token' AND owner = ? AND version = ?", arguments: [owner, version])
        else { throw StoreError.notFound(what: "token version \(Names.printable(owner)) v\(version)") }
        let columns = RowBindings.TokenVerificationColumns(
            owner: owner, version: version, versionCreatedAt: row["created_at"], checkedAt: r.checkedAt.description, state: r.state.rawValue,
            user: r.user, scopes: try r.scopes.map(json), expiresAt: r.expiresAt, missing: try json(r.missing), message: r.message)
        let mac = try db.bindings().tokenVerificationMAC(columns)
        try db.execute(
            sql: """
                INSERT INTO token_verification(secret_version_id, checked_at, state, "user", scopes, expires_at, missing, message, binding_mac)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(secret_version_id) DO UPDATE SET checked_at = excluded.checked_at, state = excluded.state, "user" = excluded."user",
                    scopes = excluded.scopes, expires_at = excluded.expires_at, missing = excluded.missing, message = excluded.message,
                    binding_mac = excluded.binding_mac
                """,
            arguments: [
                row["id"] as Int64, columns.checkedAt, columns.state, columns.user, columns.scopes, columns.expiresAt, columns.missing,
                columns.message, Data(mac),
            ])
    }

    /// The latest result of each version of an owner prefix (`connection:`), by owner and version.
    package static func all(ownerPrefix: String, in db: StoreDB) throws -> [String: [Int64: TokenVerificationRecord]] {
        let bindings = try db.bindings()
        var out: [String: [Int64: TokenVerificationRecord]] = [:]
        for row in try SQLRow.fetchAll(db, sql: selection + " WHERE substr(v.owner, 1, ?) = ?", arguments: [ownerPrefix.utf8.count, ownerPrefix]) {
            try bindings.verifyTokenVerification(row)
            guard let r = TokenVerificationRecord(row: row) else {
                throw StoreError.corrupt(path: "store", reason: "token_verification row of \(Names.printable(row["owner"] as String)) is malformed")
            }
            out[row["owner"], default: [:]][row["version"]] = r
        }
        return out
    }

    package static func find(owner: String, version: Int64, in db: StoreDB) throws -> TokenVerificationRecord? {
        guard let row = try SQLRow.fetchOne(db, sql: selection + " WHERE v.owner = ? AND v.version = ?", arguments: [owner, version]) else { return nil }
        try db.bindings().verifyTokenVerification(row)
        return TokenVerificationRecord(row: row)
    }

    /// Active token versions of connections whose last check (or, never checked, whose
    /// creation) is at least `interval` old at `now`: what the daily re-verification does next.
    package static func due(interval: Duration, in db: StoreDB, now: Timestamp = .now()) throws -> [(connection: String, version: Int64)] {
        let cutoff = now.adding(seconds: -max(1, interval.components.seconds)).description
        return try SQLRow.fetchAll(
            db,
            sql: """
                SELECT v.owner, v.version FROM secret_version v LEFT JOIN token_verification t ON t.secret_version_id = v.id
                WHERE v.kind = 'token' AND v.state = 'active' AND substr(v.owner, 1, 11) = 'connection:'
                  AND COALESCE(t.checked_at, v.created_at) <= ?
                ORDER BY v.owner, v.version
                """, arguments: [cutoff]
        ).map { (String(($0["owner"] as String).dropFirst("connection:".count)), $0["version"]) }
    }

    private static func json(_ list: [String]) throws -> String {
        String(decoding: try JSONEncoder().encode(list), as: UTF8.self)
    }
}

extension TokenVerificationRecord {
    init?(row: SQLRow) {
        guard let state = State(rawValue: row["state"]), let checked = Timestamp(parsing: row["checked_at"]) else { return nil }
        func list(_ text: String?) -> [String]? {
            text.flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) }
        }
        self.state = state
        checkedAt = checked
        user = row["user"]
        scopes = list(row["scopes"])
        expiresAt = row["expires_at"]
        guard let missing = list(row["missing"]) else { return nil }
        self.missing = missing
        message = row["message"]
    }
}
