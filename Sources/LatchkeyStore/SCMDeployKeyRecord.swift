package import GRDB

/// A deploy-key version Latchkey installed on its SCM server (table `scm_deploy_key`):
/// the server's id for it, and whether its removal is pending.
package struct SCMDeployKeyRecord: Sendable, Equatable {
    package enum State: String, Sendable {
        /// On the server, as `serverKeyID`.
        case installed
        /// To be removed from the server (grace ended, revoked, or uninstall asked);
        /// retried with backoff from `nextAttemptAt`.
        case removing
        /// Gone from the server.
        case removed
    }

    package var project: String
    package var version: Int64
    package var repo: String
    package var connection: String
    package var state: State
    package var serverKeyID: String
    package var attempts: Int
    package var nextAttemptAt: Timestamp?
    package var lastError: String?
    package var updatedAt: Timestamp
}

/// Reads and writes `scm_deploy_key` inside a caller's transaction.
package enum SCMDeployKeys {
    package static func recordInstalled(
        project: String, version: Int64, repo: String, connection: String, serverKeyID: String, in db: Database, now: Timestamp = .now()
    ) throws {
        try db.execute(
            sql: """
                INSERT INTO scm_deploy_key(project, version, repo, connection, state, server_key_id, attempts, updated_at)
                VALUES (?, ?, ?, ?, 'installed', ?, 0, ?)
                ON CONFLICT(project, version) DO UPDATE SET state = 'installed', server_key_id = excluded.server_key_id,
                    repo = excluded.repo, connection = excluded.connection, attempts = 0, next_attempt_at = NULL,
                    last_error = NULL, updated_at = excluded.updated_at
                """,
            arguments: [project, version, repo, connection, serverKeyID, now.description])
    }

    /// Queues the removal of installed versions (all of the project's when `versions` is nil).
    @discardableResult
    package static func markRemoving(project: String, versions: [Int64]?, in db: Database, now: Timestamp = .now()) throws -> Int {
        var sql = "UPDATE scm_deploy_key SET state = 'removing', next_attempt_at = ?, updated_at = ? WHERE project = ? AND state = 'installed'"
        var args: StatementArguments = [now.description, now.description, project]
        if let versions {
            guard !versions.isEmpty else { return 0 }
            sql += " AND version IN (\(versions.map { _ in "?" }.joined(separator: ",")))"
            args += StatementArguments(versions)
        }
        try db.execute(sql: sql, arguments: args)
        return db.changesCount
    }

    package static func markRemoved(project: String, version: Int64, in db: Database, now: Timestamp = .now()) throws {
        try db.execute(
            sql: "UPDATE scm_deploy_key SET state = 'removed', next_attempt_at = NULL, last_error = NULL, updated_at = ? WHERE project = ? AND version = ?",
            arguments: [now.description, project, version])
    }

    package static func markRemoveFailed(
        project: String, version: Int64, error: String, nextAttempt: Timestamp, in db: Database, now: Timestamp = .now()
    ) throws {
        try db.execute(
            sql: """
                UPDATE scm_deploy_key SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?, updated_at = ?
                WHERE project = ? AND version = ? AND state = 'removing'
                """,
            arguments: [nextAttempt.description, String(error.prefix(400)), now.description, project, version])
    }

    /// Removals whose next attempt is due.
    package static func dueRemovals(in db: Database, now: Timestamp = .now()) throws -> [SCMDeployKeyRecord] {
        try Row.fetchAll(db, sql: "SELECT * FROM scm_deploy_key WHERE state = 'removing' ORDER BY project, version")
            .compactMap(SCMDeployKeyRecord.init(row:))
            .filter { ($0.nextAttemptAt ?? now) <= now }
    }

    package static func list(project: String? = nil, in db: Database) throws -> [SCMDeployKeyRecord] {
        if let project {
            return try Row.fetchAll(db, sql: "SELECT * FROM scm_deploy_key WHERE project = ? ORDER BY version", arguments: [project])
                .compactMap(SCMDeployKeyRecord.init(row:))
        }
        return try Row.fetchAll(db, sql: "SELECT * FROM scm_deploy_key ORDER BY project, version").compactMap(SCMDeployKeyRecord.init(row:))
    }

    package static func find(project: String, version: Int64, in db: Database) throws -> SCMDeployKeyRecord? {
        try Row.fetchOne(db, sql: "SELECT * FROM scm_deploy_key WHERE project = ? AND version = ?", arguments: [project, version])
            .flatMap(SCMDeployKeyRecord.init(row:))
    }
}

extension SCMDeployKeyRecord {
    init?(row: Row) {
        guard let state = State(rawValue: row["state"]), let updated = Timestamp(parsing: row["updated_at"]) else { return nil }
        project = row["project"]
        version = row["version"]
        repo = row["repo"]
        connection = row["connection"]
        self.state = state
        serverKeyID = row["server_key_id"]
        attempts = row["attempts"]
        nextAttemptAt = (row["next_attempt_at"] as String?).flatMap(Timestamp.init(parsing:))
        lastError = row["last_error"]
        updatedAt = updated
    }
}
