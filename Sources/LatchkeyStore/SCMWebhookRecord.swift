import Foundation
import LatchkeyCrypto

/// A project's webhook on its SCM server, installed by Latchkey (table `scm_webhook`; the
/// states are explained in `Schema.scmWebhooks`). Every column the daemon acts on — which
/// hook it updates or deletes on which repository, the URL and events it shows — is
/// covered by the row's binding (docs/STORE.md), so a store writer cannot point Latchkey
/// at another hook.
package struct SCMWebhookRecord: Sendable, Equatable {
    package enum State: String, Sendable {
        case installing, installed, updating, removing
    }

    package var project: String
    package var connection: String
    package var repo: String
    package var url: String
    /// Latchkey's event names (`push`, `pull_request`, `tag`).
    package var events: [String]
    package var state: State
    package var serverHookID: String?
    /// While `updating`: the secret version being set on the hook.
    package var pendingVersion: Int64?
    /// Why the last call to the server for this hook failed.
    package var lastError: String?
    package var createdAt: Timestamp
    package var updatedAt: Timestamp

    package init(
        project: String, connection: String, repo: String, url: String, events: [String], state: State, serverHookID: String? = nil,
        pendingVersion: Int64? = nil, lastError: String? = nil, createdAt: Timestamp = .now(), updatedAt: Timestamp = .now()
    ) {
        self.project = project
        self.connection = connection
        self.repo = repo
        self.url = url
        self.events = events
        self.state = state
        self.serverHookID = serverHookID
        self.pendingVersion = pendingVersion
        self.lastError = lastError
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

extension RowBindings {
    /// `string("latchkey/row/scm-webhook/v1") string(project) string(connection) string(repo)
    /// string(url) string(events) string(state) opt(string(server_hook_id))
    /// opt(u64(pending_version)) string(created_at)` — `events` as its stored JSON text.
    static func webhookEncoding(
        project: String, connection: String, repo: String, url: String, events: String, state: String, serverHookID: String?,
        pendingVersion: Int64?, createdAt: String
    ) -> [UInt8] {
        var e = Encoder("latchkey/row/scm-webhook/v1")
        e.string(project); e.string(connection); e.string(repo); e.string(url); e.string(events); e.string(state)
        e.optional(serverHookID); e.optional(pendingVersion); e.string(createdAt)
        return e.bytes
    }

    func webhookMAC(_ row: SCMWebhooks.Columns) -> [UInt8] {
        Blake2b.hash(
            Self.webhookEncoding(
                project: row.project, connection: row.connection, repo: row.repo, url: row.url, events: row.events, state: row.state,
                serverHookID: row.serverHookID, pendingVersion: row.pendingVersion, createdAt: row.createdAt),
            key: webhookKey)
    }
}

/// Reads and writes `scm_webhook` inside a caller's transaction; every read checks the
/// row's binding, every write makes it anew.
package enum SCMWebhooks {
    /// The bound columns as stored.
    struct Columns {
        var project: String
        var connection: String
        var repo: String
        var url: String
        var events: String
        var state: String
        var serverHookID: String?
        var pendingVersion: Int64?
        var createdAt: String

        init(row: SQLRow) {
            project = row["project"]
            connection = row["connection"]
            repo = row["repo"]
            url = row["url"]
            events = row["events"]
            state = row["state"]
            serverHookID = row["server_hook_id"]
            pendingVersion = row["pending_version"]
            createdAt = row["created_at"]
        }

        init(_ r: SCMWebhookRecord) {
            project = r.project
            connection = r.connection
            repo = r.repo
            url = r.url
            events = SCMWebhooks.eventsText(r.events)
            state = r.state.rawValue
            serverHookID = r.serverHookID
            pendingVersion = r.pendingVersion
            createdAt = r.createdAt.description
        }
    }

    static func eventsText(_ events: [String]) -> String {
        String(decoding: (try? JSONEncoder.sorted.encode(events)) ?? Data("[]".utf8), as: UTF8.self)
    }

    /// The project's hook, or nil when it has none. A row whose binding fails throws.
    package static func find(project: String, in db: StoreDB) throws -> SCMWebhookRecord? {
        guard let row = try SQLRow.fetchOne(db, sql: "SELECT * FROM scm_webhook WHERE project = ?", arguments: [project]) else { return nil }
        return try record(row, bindings: try db.bindings())
    }

    package static func list(in db: StoreDB) throws -> [SCMWebhookRecord] {
        let bindings = try db.bindings()
        return try db.mapRows(sql: "SELECT * FROM scm_webhook ORDER BY project") { try record($0, bindings: bindings) }
    }

    private static func record(_ row: SQLRow, bindings: RowBindings) throws -> SCMWebhookRecord {
        let project: String = row["project"]
        try RowBindings.check(row["binding_mac"], bindings.webhookMAC(Columns(row: row)), row: "scm_webhook of project '\(Names.printable(project))'")
        let eventsText: String = row["events"]
        guard let state = SCMWebhookRecord.State(rawValue: row["state"]), let created = Timestamp(parsing: row["created_at"]),
            let updated = Timestamp(parsing: row["updated_at"]),
            let events = try? JSONDecoder().decode([String].self, from: Data(eventsText.utf8))
        else { throw StoreError.corrupt(path: "store", reason: "scm_webhook row of project '\(Names.printable(project))' is malformed") }
        return SCMWebhookRecord(
            project: project, connection: row["connection"], repo: row["repo"], url: row["url"], events: events, state: state,
            serverHookID: row["server_hook_id"], pendingVersion: row["pending_version"], lastError: row["last_error"], createdAt: created,
            updatedAt: updated)
    }

    /// Writes the whole row (insert or replace of the project's one row), with its MAC.
    package static func save(_ r: SCMWebhookRecord, in db: StoreDB, now: Timestamp = .now()) throws {
        let mac = try db.bindings().webhookMAC(Columns(r))
        try db.execute(
            sql: """
                INSERT INTO scm_webhook(project, connection, repo, url, events, state, server_hook_id, pending_version, last_error,
                    created_at, updated_at, binding_mac)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(project) DO UPDATE SET connection = excluded.connection, repo = excluded.repo, url = excluded.url,
                    events = excluded.events, state = excluded.state, server_hook_id = excluded.server_hook_id,
                    pending_version = excluded.pending_version, last_error = excluded.last_error, created_at = excluded.created_at,
                    updated_at = excluded.updated_at, binding_mac = excluded.binding_mac
                """,
            arguments: [
                r.project, r.connection, r.repo, r.url, eventsText(r.events), r.state.rawValue, r.serverHookID, r.pendingVersion,
                r.lastError.map { String($0.prefix(400)) }, r.createdAt.description, now.description, Data(mac),
            ])
    }

    /// Notes why the last call failed (not a bound column: it only explains).
    package static func noteError(project: String, _ message: String?, in db: StoreDB, now: Timestamp = .now()) throws {
        try db.execute(
            sql: "UPDATE scm_webhook SET last_error = ?, updated_at = ? WHERE project = ?",
            arguments: [message.map { String($0.prefix(400)) }, now.description, project])
    }

    package static func delete(project: String, in db: StoreDB) throws {
        try db.execute(sql: "DELETE FROM scm_webhook WHERE project = ?", arguments: [project])
    }
}
