import GRDB
import LatchkeyStore
import GRDBSQLite
import Foundation
import LatchkeyCrypto
import Synchronization

/// The fast path of verifying a store: streams the audit table in seq order and hashes
/// each row's canonical encoding straight from SQLite's column bytes, keeping nothing
/// but the chain head and the checkpoints' hashes. Since every row stores the hash it
/// chains to, ranges of rows can be checked on separate threads and joined where they
/// meet (`verify(databasePath:…)`).
///
/// It only ever confirms: on the first thing that does not match it returns nil and
/// the caller runs `AuditVerifier` over the decoded rows, whose report says what kind of
/// damage it is and where. A store's chain must start at seq 1; one that does not is
/// reported as missing its first rows (an export may start later, a store may not).
enum StoredChainCheck {
    /// Every column, in `AuditColumn`'s order (its raw value is the index).
    static let columns = AuditColumn.allCases.map { "\($0.name)" }.joined(separator: ", ")

    /// On the caller's connection and snapshot, one thread (SQLite only: nil on another
    /// engine, whose rows the full verifier checks).
    static func verify(_ db: StoreDB, checkpoints: [Checkpoint], publicKey: [UInt8]) throws -> VerificationReport? {
        guard let sqlite = db.connection as? LatchkeyStore.SQLiteConnection, let connection = sqlite.database.sqliteConnection,
            let named = namedHeads(checkpoints), signaturesVerify(checkpoints, publicKey: publicKey, share: 0, of: 1)
        else { return nil }
        let last = try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(seq), 0) FROM audit") ?? 0
        guard let range = try scan(connection, from: 1, through: last, named: named) else { return nil }
        return join([range], through: last, named: named, checkpointsOverNothing: checkpoints.filter { $0.auditSeq == 0 }.count)
    }

    /// Rows 1…`last` of a store file, split over `threads` read-only connections of their
    /// own (no SQLite mutex per call: each is used by one thread). `checkpoints` and
    /// `last` come from one earlier snapshot; rows are append-only, so every later
    /// snapshot holds them.
    static func verify(
        databasePath: String, last: Int64, checkpoints: [Checkpoint], publicKey: [UInt8], threads: Int, rowsWorthSplitting: Int64 = 100_000
    ) throws -> VerificationReport? {
        guard let named = namedHeads(checkpoints) else { return nil }
        let parts = last >= rowsWorthSplitting ? max(1, threads) : 1
        let bounds = (0...parts).map { 1 + last * Int64($0) / Int64(parts) }  // part i covers bounds[i] ..< bounds[i + 1]
        let results = Mutex<[Int: Result<Range?, any Error>]>([:])
        DispatchQueue.concurrentPerform(iterations: parts) { i in
            let outcome = Result { () throws -> Range? in
                // Each part checks its share of the checkpoint signatures, then its rows: a
                // thousand Ed25519 verifications are not left to one thread.
                guard signaturesVerify(checkpoints, publicKey: publicKey, share: i, of: parts) else { return nil }
                var connection: OpaquePointer?
                defer { sqlite3_close_v2(connection) }
                guard sqlite3_open_v2(databasePath, &connection, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK, let connection else {
                    return nil
                }
                return try scan(connection, from: bounds[i], through: bounds[i + 1] - 1, named: named)
            }
            results.withLock { $0[i] = outcome }
        }
        var ranges: [Range] = []
        for i in 0..<parts {
            guard let range = try results.withLock({ $0[i] })!.get() else { return nil }
            ranges.append(range)
        }
        return join(ranges, through: last, named: named, checkpointsOverNothing: checkpoints.filter { $0.auditSeq == 0 }.count)
    }

    /// Whether every `parts`-th checkpoint from `share` on carries a good signature.
    private static func signaturesVerify(_ checkpoints: [Checkpoint], publicKey: [UInt8], share: Int, of parts: Int) -> Bool {
        stride(from: share, to: checkpoints.count, by: parts).allSatisfy { checkpoints[$0].verifies(with: publicKey) }
    }

    /// The hash each checkpoint names, by seq; nil when two name different hashes for one
    /// seq or the first start's names anything but zero. The signatures are checked
    /// beside the rows (a report from here means every one verified).
    private static func namedHeads(_ checkpoints: [Checkpoint]) -> [Int64: [UInt8]]? {
        var named: [Int64: [UInt8]] = [:]
        for cp in checkpoints {
            if cp.auditSeq == 0 {
                guard cp.headHash == AuditEncoding.zeroHash else { return nil }
                continue  // the first start's checkpoint, over the empty log
            }
            guard named[cp.auditSeq] == nil || named[cp.auditSeq] == cp.headHash else { return nil }
            named[cp.auditSeq] = cp.headHash
        }
        return named
    }

    /// What one range found: the hash its first row chains to, its last row's hash.
    struct Range: Sendable {
        var from: Int64
        var rows = 0
        var chainsTo: [UInt8] = []
        var head: [UInt8] = []
        var checkpointsMatched = 0
        var headless = false  // seq 1 is not the first row of the store
    }

    /// Ranges that each hold, meet: each chains to the one before, the first to zero,
    /// every checkpoint matched.
    private static func join(
        _ ranges: [Range], through last: Int64, named: [Int64: [UInt8]], checkpointsOverNothing: Int
    ) -> VerificationReport? {
        var report = VerificationReport()
        if ranges.first?.headless == true {
            report.problem = .missing(seq: 1)
            return report
        }
        var prev = AuditEncoding.zeroHash
        for r in ranges where r.rows > 0 {
            guard r.chainsTo == prev else { return nil }
            prev = r.head
            report.rowsChecked += r.rows
            report.checkpointsChecked += r.checkpointsMatched
        }
        // A checkpoint past the last row means rows were cut off the end.
        guard report.rowsChecked == Int(last), report.checkpointsChecked == named.count else { return nil }
        report.firstSeq = last > 0 ? 1 : 0
        report.lastSeq = last
        report.unsignedTail = Int(last - (named.keys.max() ?? 0))
        report.checkpointsChecked += checkpointsOverNothing
        return report
    }

    /// Rows `from`…`through`, each hashed and compared; nil at the first mismatch.
    static func scan(_ connection: OpaquePointer, from: Int64, through: Int64, named: [Int64: [UInt8]]) throws -> Range? {
        var range = Range(from: from)
        guard from <= through else { return range }
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(connection, "SELECT \(columns) FROM audit WHERE seq BETWEEN ? AND ? ORDER BY seq", -1, &statement, nil) == SQLITE_OK,
            let statement
        else {
            throw DatabaseError(resultCode: ResultCode(rawValue: sqlite3_errcode(connection)), message: String(cString: sqlite3_errmsg(connection)))
        }
        defer { sqlite3_finalize(statement) }
        precondition(sqlite3_column_count(statement) == StatementValues.count, "one value a selected column")
        // The first range starts below 1: a row numbered 0 or less (possible only once
        // the table's CHECK is gone) is read, and left to the full verifier to name.
        sqlite3_bind_int64(statement, 1, from == 1 ? Int64.min : from)
        sqlite3_bind_int64(statement, 2, through)

        var prev: [UInt8] = []
        var expected = from
        let scratch = AuditRowBuffer()  // prev hash ‖ row encoding (what the row hash covers), written in place
        var hash = AuditEncoding.zeroHash
        // The checkpointed seqs of this range in order: one comparison a row, not a lookup.
        let checkpointed = named.keys.filter { $0 >= from && $0 <= through }.sorted()
        var nextCheckpoint = checkpointed.startIndex
        while true {
            let step = sqlite3_step(statement)
            if step == SQLITE_DONE { break }
            guard step == SQLITE_ROW else {
                throw DatabaseError(resultCode: ResultCode(rawValue: step), message: String(cString: sqlite3_errmsg(connection)))
            }
            let row = StatementValues(statement: statement)
            let seq = row.seq
            guard seq == expected else {
                guard expected == 1, seq > 1 else { return nil }
                range.headless = true
                return range
            }
            if seq == from {
                prev = seq == 1 ? AuditEncoding.zeroHash : row.blob(.prevHash)
                range.chainsTo = prev
            }
            guard row.blob(.prevHash, equals: prev) else { return nil }
            // A row the encoder refuses is left to the full verifier, which names it.
            guard (try? AuditRowEncoder.encode(row, after: prev, into: scratch)) != nil else { return nil }
            hash.withUnsafeMutableBytes { Blake2b.hash(scratch.written, into: $0) }
            guard row.blob(.rowHash, equals: hash) else { return nil }
            if nextCheckpoint < checkpointed.endIndex, checkpointed[nextCheckpoint] == seq {
                guard named[seq] == hash else { return nil }
                range.checkpointsMatched += 1
                nextCheckpoint += 1
            }
            swap(&prev, &hash)
            expected += 1
            range.rows += 1
        }
        guard expected == through + 1 else { return nil }  // rows missing at the end of the range
        range.head = prev
        return range
    }
}

/// The current row of a statement over `StoredChainCheck.columns`, as the encoder reads
/// it: SQLite's own column bytes, no copies.
///
/// Each column's value is fetched once per row (`sqlite3_column_value`) and its type
/// asked once; its bytes or integer are read from that value: one call through the
/// statement a column instead of three. SQLite calls such a value unprotected and its
/// accessors "not threadsafe" — they take no connection mutex — which holds here: every
/// connection a scan reads is used by one thread (`verify(databasePath:…)` opens one a
/// thread, and the store's own connection is serialised by its queue).
private struct StatementValues: AuditRowValues {
    let seq: Int64
    private let values: ColumnValues
    private let types: ColumnTypes

    /// The value of each selected column of the current row.
    typealias ColumnValues = (
        OpaquePointer?, OpaquePointer?, OpaquePointer?, OpaquePointer?, OpaquePointer?, OpaquePointer?, OpaquePointer?,
        OpaquePointer?, OpaquePointer?, OpaquePointer?, OpaquePointer?, OpaquePointer?, OpaquePointer?, OpaquePointer?,
        OpaquePointer?, OpaquePointer?, OpaquePointer?, OpaquePointer?, OpaquePointer?
    )

    /// The storage class of each (`SQLITE_NULL`, `SQLITE_TEXT`, …).
    typealias ColumnTypes = (
        Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32
    )

    static let count = Int32(MemoryLayout<ColumnValues>.size / MemoryLayout<OpaquePointer?>.stride)

    @inline(__always)
    init(statement: OpaquePointer) {
        var values: ColumnValues = (nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil)
        var types: ColumnTypes = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &values) { rawValues in
            withUnsafeMutableBytes(of: &types) { rawTypes in
                let v = rawValues.bindMemory(to: OpaquePointer?.self)
                let t = rawTypes.bindMemory(to: Int32.self)
                for c in 0..<v.count {
                    v[c] = sqlite3_column_value(statement, Int32(c))
                    t[c] = sqlite3_value_type(v[c])
                }
            }
        }
        self.values = values
        self.types = types
        self.seq = sqlite3_value_int64(values.0)
    }

    /// A blob column's bytes, copied (an empty array for NULL or no bytes).
    func blob(_ column: AuditColumn) -> [UInt8] {
        let v = value(column)
        let count = Int(sqlite3_value_bytes(v))
        guard count > 0, let p = sqlite3_value_blob(v) else { return [] }
        return Array(UnsafeRawBufferPointer(start: p, count: count))
    }

    /// Whether a blob column holds exactly `expected`, stored as a blob.
    @inline(__always)
    func blob(_ column: AuditColumn, equals expected: [UInt8]) -> Bool {
        let v = value(column)
        guard type(column) == SQLITE_BLOB, Int(sqlite3_value_bytes(v)) == expected.count, let p = sqlite3_value_blob(v) else { return false }
        return expected.withUnsafeBytes { memcmp($0.baseAddress!, p, expected.count) == 0 }
    }

    @inline(__always)
    private func value(_ column: AuditColumn) -> OpaquePointer? {
        withUnsafeBytes(of: values) { $0.load(fromByteOffset: Int(column.rawValue) * MemoryLayout<OpaquePointer?>.stride, as: OpaquePointer?.self) }
    }

    @inline(__always)
    private func type(_ column: AuditColumn) -> Int32 {
        withUnsafeBytes(of: types) { $0.load(fromByteOffset: Int(column.rawValue) * MemoryLayout<Int32>.stride, as: Int32.self) }
    }

    @inline(__always)
    func text<R>(_ column: AuditColumn, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
        guard type(column) != SQLITE_NULL else { return body(nil) }
        let v = value(column)
        let p = sqlite3_value_text(v)  // text first, then its length (SQLite's advice)
        let n = Int(sqlite3_value_bytes(v))
        guard n > 0, let p else { return body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return body(UnsafeRawBufferPointer(start: p, count: n))
    }

    @inline(__always)
    func integer(_ column: AuditColumn) -> Int64? {
        type(column) == SQLITE_NULL ? nil : sqlite3_value_int64(value(column))
    }

    @inline(__always)
    func isWellTyped(_ column: AuditColumn, integer: Bool) -> Bool {
        let t = type(column)
        return t == SQLITE_NULL || t == (integer ? SQLITE_INTEGER : SQLITE_TEXT)
    }
}
