import GRDB
package import LatchkeyStore
import LatchkeyCrypto
import Foundation
import GRDBSQLite

/// Filters for listing the audit log.
package struct AuditQuery: Sendable {
    package var since: Timestamp?
    package var until: Timestamp?
    package var project: String?
    package var action: String?
    package var outcome: AuditEntry.Outcome?
    package var uid: UInt32?
    package var afterSeq: Int64?
    package var limit: Int?

    package init(
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
package enum AuditReader {
    package static func records(_ q: AuditQuery = AuditQuery(), in db: StoreDB) throws -> [AuditRecord] {
        var out: [AuditRecord] = []
        try forEachRecord(q, in: db) { out.append($0) }
        return out
    }

    static func sql(_ q: AuditQuery) -> (String, SQLArguments) {
        var sql = "SELECT * FROM audit WHERE 1 = 1"
        var args: SQLArguments = []
        if let v = q.since { sql += " AND time >= ?"; args += [v.description] }
        if let v = q.until { sql += " AND time < ?"; args += [v.description] }
        if let v = q.project { sql += " AND target_project = ?"; args += [v] }
        if let v = q.action { sql += " AND action = ?"; args += [v] }
        if let v = q.outcome { sql += " AND outcome = ?"; args += [v.rawValue] }
        if let v = q.uid { sql += " AND actor_uid = ?"; args += [Int64(v)] }
        if let v = q.afterSeq { sql += " AND seq > ?"; args += [v] }
        sql += " ORDER BY seq"
        if let v = q.limit { sql += " LIMIT ?"; args += [v] }
        return (sql, args)
    }

    /// Calls `body` with each row of `q` in seq order, one at a time (flat memory).
    package static func forEachRecord(_ q: AuditQuery = AuditQuery(), in db: StoreDB, _ body: (AuditRecord) throws -> Void) throws {
        let (sql, args) = sql(q)
        try db.forEachRow(sql: sql, arguments: args) { row in
            try body(try record(row))
            return true
        }
    }

    package static func checkpoints(in db: StoreDB) throws -> [Checkpoint] {
        try SQLRow.fetchAll(db, sql: "SELECT * FROM audit_checkpoint ORDER BY id").map(checkpoint)
    }

    /// The newest checkpoint, if there is one.
    static func newestCheckpoint(in db: StoreDB) throws -> Checkpoint? {
        try SQLRow.fetchAll(db, sql: "SELECT * FROM audit_checkpoint ORDER BY id DESC LIMIT 1").first.map(checkpoint)
    }

    static func checkpoint(_ row: SQLRow) throws -> Checkpoint {
        // A store whose schema was edited can hold any type in any column: named, not trapped on.
        if let (column, kind) = misTyped(row, checkpointColumns) {
            throw StoreError.corrupt(path: "store", reason: "audit checkpoint \(row["id"] as Int64): \(column) is not \(kind.rawValue)")
        }
        guard let time = Timestamp(parsing: row["time"]) else { throw StoreError.corrupt(path: "store", reason: "checkpoint time") }
        // A store from before checkpoint chaining has no prev_hash column (read-only verify).
        let prev: Data? = row.index(of: "prev_hash") != nil ? row["prev_hash"] : nil
        return Checkpoint(
            id: row["id"], auditSeq: row["audit_seq"], headHash: Array(row["head_hash"] as Data), time: time,
            publicKey: Array(row["public_key"] as Data), signature: Array(row["signature"] as Data), prevHash: prev.map { Array($0) })
    }

    /// Verifies the live store with `publicKey` (by default the one in its metadata;
    /// an auditor should pass the key they kept).
    package static func verify(
        store: Store, publicKey: [UInt8], policy: CheckpointPolicy = .standard, expected: [ExpectedCheckpoint] = []
    ) throws -> VerificationReport {
        try store.database.read { db in try verify(db, publicKey: publicKey, policy: policy, expected: expected) }
    }

    /// The streaming check first; the full verifier's diagnosis when it finds anything.
    /// Then the checkpoints' own chain, the unsigned tail and what is known from outside.
    static func verify(_ db: StoreDB, publicKey: [UInt8], policy: CheckpointPolicy, expected: [ExpectedCheckpoint]) throws -> VerificationReport {
        let checkpoints = try checkpoints(in: db)
        let streamed = try StoredChainCheck.verify(db, checkpoints: checkpoints, publicKey: publicKey)
        var report = try streamed ?? fullRowCheck(db, checkpoints, publicKey)
        CheckpointChain.check(
            &report, checkpoints: checkpoints, publicKey: publicKey, tail: try tail(db, checkpoints), policy: policy, expected: expected,
            signaturesVerified: streamed != nil)
        return report
    }

    /// The full verifier over decoded rows; a row that cannot be decoded strictly is
    /// reported as malformed once every row before it checked out.
    static func fullRowCheck(_ db: StoreDB, _ checkpoints: [Checkpoint], _ publicKey: [UInt8]) throws -> VerificationReport {
        var rows: [AuditRecord] = []
        var malformed: AuditRowError?
        try db.forEachRow(sql: "SELECT * FROM audit ORDER BY seq") { row in
            do {
                rows.append(try record(row))
                return true
            } catch let e as AuditRowError {
                malformed = e
                return false
            }
        }
        var report = AuditVerifier.verifyRows(records: rows, checkpoints: malformed == nil ? checkpoints : [], publicKey: publicKey)
        if report.problem == nil, let malformed { report.problem = .malformed(seq: malformed.seq, reason: malformed.reason) }
        return report
    }

    /// The stored type each column of the audit table must have (or NULL), by name; the
    /// rowid (`seq`) is an integer whatever the schema says.
    static let recordColumns = Dictionary(uniqueKeysWithValues: AuditColumn.allCases.filter { $0 != .seq }.map { ("\($0.name)", $0.storedKind) })
    static let checkpointColumns: [String: AuditColumn.Kind] = [
        "audit_seq": .integer, "head_hash": .blob, "time": .text, "public_key": .blob, "signature": .blob, "prev_hash": .blob,
    ]

    /// The first column of `row` whose stored type is not the one `kinds` names for it,
    /// and that type.
    static func misTyped(_ row: SQLRow, _ kinds: [String: AuditColumn.Kind]) -> (column: String, kind: AuditColumn.Kind)? {
        for (column, value) in zip(row.columns, row.values) {
            guard let kind = kinds[column] else { continue }
            switch (value, kind) {
            case (.null, _), (.text, .text), (.integer, .integer), (.blob, .blob): continue
            default: return (column, kind)
            }
        }
        return nil
    }

    /// Rows after the last checkpoint: how many, and the times of the first and last.
    static func tail(_ db: StoreDB, _ checkpoints: [Checkpoint]) throws -> TailFacts {
        let covered = checkpoints.map(\.auditSeq).max() ?? 0
        guard let row = try SQLRow.fetchOne(db, sql: "SELECT count(*) AS n, min(time) AS first, max(time) AS last FROM audit WHERE seq > ?", arguments: [covered])
        else { return TailFacts() }
        // A time stored as another type (an edited schema) is no time; the rows report it.
        func time(_ column: String) -> Timestamp? {
            guard case .text(let t) = row.value(column) else { return nil }
            return Timestamp(parsing: t)
        }
        return TailFacts(rows: row["n"], firstTime: time("first"), lastTime: time("last"))
    }

    /// A stored row, decoded strictly: what the encoder would refuse is refused here too
    /// (a uid that does not fit 32 bits is not read as another uid).
    static func record(_ row: SQLRow) throws -> AuditRecord {
        let seq: Int64 = row["seq"]  // the rowid: an integer whatever the schema says
        func malformed(_ reason: String) -> AuditRowError { AuditRowError(seq: seq, reason: reason) }
        // The encoder's rule (every column holds its own type), before anything is decoded:
        // a store whose schema was edited can hold any type in any column.
        if let (column, kind) = misTyped(row, recordColumns) { throw malformed("\(column) is not \(kind.rawValue)") }
        guard let timeText = row["time"] as String?, let time = Timestamp(parsing: timeText), time.description == timeText else {
            throw malformed("time is not of the form YYYY-MM-DDTHH:MM:SS.ffffffZ")
        }
        guard let outcome = (row["outcome"] as String?).flatMap(AuditEntry.Outcome.init(rawValue:)) else {
            throw malformed("outcome is not granted, denied or failed")
        }
        func id<T: FixedWidthInteger>(_ column: String, _ type: T.Type) throws -> T? {
            guard let v = row[column] as Int64? else { return nil }
            guard let fitting = T(exactly: v) else { throw malformed("\(column) \(v) is outside \(T.min)…\(T.max)") }
            return fitting
        }
        let actor = AuditEntry.Actor(
            role: row["actor_role"], uid: try id("actor_uid", UInt32.self), gid: try id("actor_gid", UInt32.self),
            pid: try id("actor_pid", Int32.self), sessionID: row["session_id"])
        let entry = AuditEntry(
            actor: actor, action: row["action"],
            target: .init(connection: row["target_connection"], project: row["target_project"], kind: row["target_kind"], version: row["target_version"]),
            outcome: outcome, reason: row["reason"], requestID: row["request_id"], clientRequestID: row["client_request_id"],
            host: row["host"])
        return AuditRecord(seq: row["seq"], time: time, entry: entry, prevHash: Array(row["prev_hash"] as Data), rowHash: Array(row["row_hash"] as Data))
    }
}

extension AuditReader {
    /// Verifies a store file read-only (the daemon may be running; no master key needed).
    package static func verify(
        databasePath: String, publicKey: [UInt8], policy: CheckpointPolicy = .standard, expected: [ExpectedCheckpoint] = []
    ) throws -> VerificationReport {
        var config = Configuration()
        config.readonly = true
        let queue = try DatabaseQueue(path: databasePath, configuration: config)
        let (signed, last, tail) = try queue.read { file in
            let db = readOnly(file)
            let signed = try AuditReader.checkpoints(in: db)
            return (signed, try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(seq), 0) FROM audit") ?? 0, try AuditReader.tail(db, signed))
        }
        // Ranges of the chain on both cores, each on a connection of its own.
        let cores = ProcessInfo.processInfo.activeProcessorCount
        if var report = try StoredChainCheck.verify(databasePath: databasePath, last: last, checkpoints: signed, publicKey: publicKey, threads: cores) {
            CheckpointChain.check(
                &report, checkpoints: signed, publicKey: publicKey, tail: tail, policy: policy, expected: expected, signaturesVerified: true)
            return report
        }
        return try queue.read { db in try verify(readOnly(db), publicKey: publicKey, policy: policy, expected: expected) }
    }

    /// A read-only connection to a store file, as row code reads it (no row bindings).
    static func readOnly(_ db: Database) -> StoreDB {
        StoreDB(connection: LatchkeyStore.SQLiteConnection(db), bindings: RowBindingsSlot())
    }

    /// The audit public key a store records in its metadata.
    package static func storedPublicKey(databasePath: String) throws -> [UInt8]? {
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
    package static func lastSeq(databasePath: String) throws -> Int64 {
        var config = Configuration()
        config.readonly = true
        return try DatabaseQueue(path: databasePath, configuration: config).read { db in
            try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(seq), 0) FROM audit") ?? 0
        }
    }

    /// Granted rows of `actions` after `seq` (read-only), for benchmarks.
    package static func grantedCount(databasePath: String, after seq: Int64, actions: [String]) throws -> Int {
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
