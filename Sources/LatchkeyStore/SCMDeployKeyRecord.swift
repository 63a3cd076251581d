import Foundation

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

/// Reads and writes `scm_deploy_key` inside a caller's transaction. The columns the daemon
/// acts on (project, version, repo, connection, state, server key id) are bound by the
/// row's MAC (docs/STORE.md, `lkrowmac` id 7): every read checks it (a row that fails is
/// `StoreError.bindingFailed`, never acted on) and every change of a bound column checks
/// the old row and writes the new MAC in the same statement's transaction. Attempts, next
/// attempt and last error are scheduling hints, not bound (the audit rows are the record).
package enum SCMDeployKeys {
    package static func recordInstalled(
        project: String, version: Int64, repo: String, connection: String, serverKeyID: String, in db: StoreDB, now: Timestamp = .now()
    ) throws {
        let mac = try db.bindings().scmDeployKeyMAC(
            project: project, version: version, repo: repo, connection: connection, state: SCMDeployKeyRecord.State.installed.rawValue,
            serverKeyID: serverKeyID)
        try db.execute(
            sql: """
                INSERT INTO scm_deploy_key(project, version, repo, connection, state, server_key_id, attempts, updated_at, binding_mac)
                VALUES (?, ?, ?, ?, 'installed', ?, 0, ?, ?)
                ON CONFLICT(project, version) DO UPDATE SET state = 'installed', server_key_id = excluded.server_key_id,
                    repo = excluded.repo, connection = excluded.connection, attempts = 0, next_attempt_at = NULL,
                    last_error = NULL, updated_at = excluded.updated_at, binding_mac = excluded.binding_mac
                """,
            arguments: [project, version, repo, connection, serverKeyID, now.description, Data(mac)])
    }

    /// Queues the removal of installed versions (all of the project's when `versions` is
    /// nil). Each row's binding is checked before it changes: a row a store writer edited
    /// (say, to another server key id) is not queued — the daemon never deletes a key id a
    /// writer chose — and comes back in `refused`, named, for the caller to audit and log.
    /// (It does not fail the caller's transaction: a revocation must not be blocked by it.)
    @discardableResult
    package static func markRemoving(
        project: String, versions: [Int64]?, in db: StoreDB, now: Timestamp = .now()
    ) throws -> (queued: Int, refused: [StoreError]) {
        if let versions, versions.isEmpty { return (0, []) }
        var sql = "SELECT * FROM scm_deploy_key WHERE project = ? AND state = 'installed'"
        var args: SQLArguments = [project]
        if let versions {
            sql += " AND version IN (\(versions.map { _ in "?" }.joined(separator: ",")))"
            args += SQLArguments(versions)
        }
        let bindings = try db.bindings()
        var queued = 0
        var refused: [StoreError] = []
        for row in try SQLRow.fetchAll(db, sql: sql, arguments: args) {
            do throws(StoreError) {
                try bindings.verifySCMDeployKey(row)
            } catch {
                refused.append(error)
                continue
            }
            try setState(.removing, row: row, bindings: bindings, extra: "next_attempt_at = ?,", extraArguments: [now.description], now: now, in: db)
            queued += 1
        }
        return (queued, refused)
    }

    package static func markRemoved(project: String, version: Int64, in db: StoreDB, now: Timestamp = .now()) throws {
        guard let row = try SQLRow.fetchOne(db, sql: "SELECT * FROM scm_deploy_key WHERE project = ? AND version = ?", arguments: [project, version])
        else { return }
        let bindings = try db.bindings()
        try bindings.verifySCMDeployKey(row)
        try setState(.removed, row: row, bindings: bindings, extra: "next_attempt_at = NULL, last_error = NULL,", extraArguments: [], now: now, in: db)
    }

    /// Changes a verified row's state, with its new MAC.
    private static func setState(
        _ state: SCMDeployKeyRecord.State, row: SQLRow, bindings: RowBindings, extra: String, extraArguments: SQLArguments, now: Timestamp,
        in db: StoreDB
    ) throws {
        let project: String = row["project"]
        let version: Int64 = row["version"]
        let mac = bindings.scmDeployKeyMAC(
            project: project, version: version, repo: row["repo"], connection: row["connection"], state: state.rawValue,
            serverKeyID: row["server_key_id"])
        try db.execute(
            sql: "UPDATE scm_deploy_key SET state = ?, \(extra) updated_at = ?, binding_mac = ? WHERE project = ? AND version = ?",
            arguments: [state.rawValue] + extraArguments + [now.description, Data(mac), project, version])
    }

    package static func markRemoveFailed(
        project: String, version: Int64, error: String, nextAttempt: Timestamp, in db: StoreDB, now: Timestamp = .now()
    ) throws {
        try db.execute(
            sql: """
                UPDATE scm_deploy_key SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?, updated_at = ?
                WHERE project = ? AND version = ? AND state = 'removing'
                """,
            arguments: [nextAttempt.description, String(error.prefix(400)), now.description, project, version])
    }

    /// Removals whose next attempt is due, each row's binding checked. A row that fails its
    /// binding is not worked (the daemon never deletes a key id a store writer chose); it is
    /// returned in `refused`, named, for the caller to audit and log.
    package static func dueRemovals(in db: StoreDB, now: Timestamp = .now()) throws -> (due: [SCMDeployKeyRecord], refused: [StoreError]) {
        let bindings = try db.bindings()
        var due: [SCMDeployKeyRecord] = []
        var refused: [StoreError] = []
        for row in try SQLRow.fetchAll(db, sql: "SELECT * FROM scm_deploy_key WHERE state = 'removing' ORDER BY project, version") {
            do throws(StoreError) {
                try bindings.verifySCMDeployKey(row)
            } catch {
                refused.append(error)
                continue
            }
            if let r = SCMDeployKeyRecord(row: row), (r.nextAttemptAt ?? now) <= now { due.append(r) }
        }
        return (due, refused)
    }

    package static func list(project: String? = nil, in db: StoreDB) throws -> [SCMDeployKeyRecord] {
        let rows: [SQLRow]
        if let project {
            rows = try SQLRow.fetchAll(db, sql: "SELECT * FROM scm_deploy_key WHERE project = ? ORDER BY version", arguments: [project])
        } else {
            rows = try SQLRow.fetchAll(db, sql: "SELECT * FROM scm_deploy_key ORDER BY project, version")
        }
        return try verified(rows, in: db)
    }

    package static func find(project: String, version: Int64, in db: StoreDB) throws -> SCMDeployKeyRecord? {
        try verified(
            try SQLRow.fetchAll(db, sql: "SELECT * FROM scm_deploy_key WHERE project = ? AND version = ?", arguments: [project, version]), in: db
        ).first
    }

    private static func verified(_ rows: [SQLRow], in db: StoreDB) throws -> [SCMDeployKeyRecord] {
        let bindings = try db.bindings()
        return try rows.compactMap { row in
            try bindings.verifySCMDeployKey(row)
            return SCMDeployKeyRecord(row: row)
        }
    }
}

extension SCMDeployKeyRecord {
    init?(row: SQLRow) {
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
