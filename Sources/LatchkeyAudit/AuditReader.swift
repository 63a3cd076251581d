package import GRDB
public import LatchkeyStore
import LatchkeyCrypto
import Foundation
import GRDBSQLite

/// Filters for listing the audit log.
public struct AuditQuery: Sendable {
    public var since: Timestamp?
    public var until: Timestamp?
    public var project: String?
    public var action: String?
    public var outcome: AuditEntry.Outcome?
    public var uid: UInt32?
    public var afterSeq: Int64?
    public var limit: Int?

    public init(
        since: Timestamp? = nil, until: Timestamp? = nil, project: String? = nil, action: String? = nil,
        outcome: AuditEntry.Outcome? = nil, uid: UInt32? = nil, afterSeq: Int64? = nil, limit: Int? = nil
    ) {
        self.since = since
        self.until = until
        self.project = project
        self.action = action
        self.outcome = outcome
        self.uid = uid
        self.afterSeq = afterSeq
        self.limit = limit
    }
}

/// Reads rows and checkpoints straight from a store (no master key needed).
public enum AuditReader {
    package static func records(_ q: AuditQuery = AuditQuery(), in db: Database) throws -> [AuditRecord] {
        var sql = "SELECT * FROM audit WHERE 1"
        var args: StatementArguments = []
        if let v = q.since { sql += " AND time >= ?"; args += [v.description] }
        if let v = q.until { sql += " AND time < ?"; args += [v.description] }
        if let v = q.project { sql += " AND target_project = ?"; args += [v] }
        if let v = q.action { sql += " AND action = ?"; args += [v] }
        if let v = q.outcome { sql += " AND outcome = ?"; args += [v.rawValue] }
        if let v = q.uid { sql += " AND actor_uid = ?"; args += [Int64(v)] }
        if let v = q.afterSeq { sql += " AND seq > ?"; args += [v] }
        sql += " ORDER BY seq"
        if let v = q.limit { sql += " LIMIT ?"; args += [v] }
        let cursor = try Row.fetchCursor(db, sql: sql, arguments: args)
        var out: [AuditRecord] = []
        while let row = try cursor.next() { out.append(try record(row)) }
        return out
    }

    package static func checkpoints(in db: Database) throws -> [Checkpoint] {
        try Row.fetchAll(db, sql: "SELECT * FROM audit_checkpoint ORDER BY id").map { row in
            guard let time = Timestamp(parsing: row["time"]) else { throw StoreError.corrupt(path: "store", reason: "checkpoint time") }
            return Checkpoint(
                id: row["id"], auditSeq: row["audit_seq"], headHash: Array(row["head_hash"] as Data), time: time,
                publicKey: Array(row["public_key"] as Data), signature: Array(row["signature"] as Data))
        }
    }

    /// Verifies the live store with `publicKey` (by default the one in its metadata;
    /// an auditor should pass the key they kept).
    public static func verify(store: Store, publicKey: [UInt8]) throws -> VerificationReport {
        try store.database.read { db in try verify(db, publicKey: publicKey) }
    }

    /// The streaming check first; the full verifier's diagnosis when it finds anything.
    static func verify(_ db: Database, publicKey: [UInt8]) throws -> VerificationReport {
        let checkpoints = try checkpoints(in: db)
        if let report = try StoredChainCheck.verify(db, checkpoints: checkpoints, publicKey: publicKey) { return report }
        return AuditVerifier.verify(records: try records(in: db), checkpoints: checkpoints, publicKey: publicKey)
    }

    static func record(_ row: Row) throws -> AuditRecord {
        guard let time = Timestamp(parsing: row["time"]), let outcome = AuditEntry.Outcome(rawValue: row["outcome"]) else {
            throw StoreError.corrupt(path: "store", reason: "audit row \(row["seq"] as Int64? ?? 0) is malformed")
        }
        let actor = AuditEntry.Actor(
            role: row["actor_role"], uid: (row["actor_uid"] as Int64?).map { UInt32(truncatingIfNeeded: $0) },
            gid: (row["actor_gid"] as Int64?).map { UInt32(truncatingIfNeeded: $0) },
            pid: (row["actor_pid"] as Int64?).map { Int32(truncatingIfNeeded: $0) }, sessionID: row["session_id"])
        let entry = AuditEntry(
            actor: actor, action: row["action"],
            target: .init(connection: row["target_connection"], project: row["target_project"], kind: row["target_kind"], version: row["target_version"]),
            outcome: outcome, reason: row["reason"], requestID: row["request_id"], clientRequestID: row["client_request_id"])
        return AuditRecord(seq: row["seq"], time: time, entry: entry, prevHash: Array(row["prev_hash"] as Data), rowHash: Array(row["row_hash"] as Data))
    }
}

extension AuditReader {
    /// Verifies a store file read-only (the daemon may be running; no master key needed).
    public static func verify(databasePath: String, publicKey: [UInt8]) throws -> VerificationReport {
        var config = Configuration()
        config.readonly = true
        let queue = try DatabaseQueue(path: databasePath, configuration: config)
        let (signed, last) = try queue.read { db in
            (try AuditReader.checkpoints(in: db), try Int64.fetchOne(db, sql: "SELECT IFNULL(MAX(seq), 0) FROM audit") ?? 0)
        }
        // Ranges of the chain on both cores, each on a connection of its own.
        let cores = ProcessInfo.processInfo.activeProcessorCount
        if let report = try StoredChainCheck.verify(databasePath: databasePath, last: last, checkpoints: signed, publicKey: publicKey, threads: cores) {
            return report
        }
        return try queue.read { db in try verify(db, publicKey: publicKey) }
    }

    /// The audit public key a store records in its metadata.
    public static func storedPublicKey(databasePath: String) throws -> [UInt8]? {
        var config = Configuration()
        config.readonly = true
        let queue = try DatabaseQueue(path: databasePath, configuration: config)
        return try queue.read { db in
            try String.fetchOne(db, sql: "SELECT value FROM metadata WHERE key = 'audit_public_key'").flatMap(Hex.decode)
        }
    }
}

extension AuditReader {
    /// The last sequence number of a store file (read-only), for benchmarks.
    public static func lastSeq(databasePath: String) throws -> Int64 {
        var config = Configuration()
        config.readonly = true
        return try DatabaseQueue(path: databasePath, configuration: config).read { db in
            try Int64.fetchOne(db, sql: "SELECT IFNULL(MAX(seq), 0) FROM audit") ?? 0
        }
    }

    /// Granted rows of `actions` after `seq` (read-only), for benchmarks.
    public static func grantedCount(databasePath: String, after seq: Int64, actions: [String]) throws -> Int {
        var config = Configuration()
        config.readonly = true
        return try DatabaseQueue(path: databasePath, configuration: config).read { db in
            let marks = actions.map { _ in "?" }.joined(separator: ",")
            var args = StatementArguments([seq])
            args += StatementArguments(actions)
            return try Int.fetchOne(
                db, sql: "SELECT count(*) FROM audit WHERE seq > ? AND outcome = 'granted' AND action IN (\(marks))", arguments: args) ?? 0
        }
    }
}
