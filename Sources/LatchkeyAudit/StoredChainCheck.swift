import GRDB
import GRDBSQLite
import Foundation
import LatchkeyCrypto

/// The fast path of verifying a store: streams the audit table in seq order and hashes
/// each row's canonical encoding straight from SQLite's column bytes, keeping nothing
/// but the chain head and the checkpoints' hashes (a million rows in about a second).
///
/// It only ever confirms: on the first thing that does not match it returns nil and
/// the caller runs `AuditVerifier` over the decoded rows, whose report says what kind of
/// damage it is and where. A store's chain must start at seq 1; one that does not is
/// reported as missing its first rows (an export may start later, a store may not).
enum StoredChainCheck {
    static let columns = """
        seq, time, actor_role, actor_uid, actor_gid, actor_pid, session_id, action, target_connection, target_project,
        target_kind, target_version, outcome, reason, request_id, prev_hash, row_hash
        """

    static func verify(_ db: Database, checkpoints: [Checkpoint], publicKey: [UInt8]) throws -> VerificationReport? {
        guard let connection = db.sqliteConnection else { return nil }
        return try verify(connection, checkpoints: checkpoints, publicKey: publicKey)
    }

    /// As above on a connection of the caller's (read `checkpoints` before this
    /// connection's snapshot starts, so every checkpoint's row is in it).
    static func verify(_ connection: OpaquePointer, checkpoints: [Checkpoint], publicKey: [UInt8]) throws -> VerificationReport? {
        var report = VerificationReport()
        // Checkpoints first (a few per thousand rows): signatures, and the hash each names.
        var named: [Int64: [UInt8]] = [:]
        for cp in checkpoints.sorted(by: { $0.id < $1.id }) {
            let message = AuditEncoding.checkpointMessage(id: cp.id, auditSeq: cp.auditSeq, headHash: cp.headHash, time: cp.time)
            guard cp.publicKey == publicKey, ed25519Verify(signature: cp.signature, message: message, publicKey: publicKey) else { return nil }
            guard named[cp.auditSeq] == nil || named[cp.auditSeq] == cp.headHash else { return nil }
            named[cp.auditSeq] = cp.headHash
            report.checkpointsChecked += 1
        }
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(connection, "SELECT \(columns) FROM audit ORDER BY seq", -1, &statement, nil) == SQLITE_OK, let statement else {
            throw DatabaseError(resultCode: ResultCode(rawValue: sqlite3_errcode(connection)), message: String(cString: sqlite3_errmsg(connection)))
        }
        defer { sqlite3_finalize(statement) }

        var prev = AuditEncoding.zeroHash
        var expected: Int64 = 1
        // prev hash ‖ row encoding (what the row hash covers), written in place.
        var scratch = RowScratch()
        defer { scratch.buffer.deallocate() }
        var matchedCheckpoints = 0
        var hash = AuditEncoding.zeroHash
        while true {
            let step = sqlite3_step(statement)
            if step == SQLITE_DONE { break }
            guard step == SQLITE_ROW else {
                throw DatabaseError(resultCode: ResultCode(rawValue: step), message: String(cString: sqlite3_errmsg(connection)))
            }
            let seq = sqlite3_column_int64(statement, 0)
            if seq != expected {
                if expected == 1 {  // the first rows are gone
                    report.problem = .missing(seq: 1)
                    return report
                }
                return nil
            }
            guard column(statement, 15, equals: prev) else { return nil }
            scratch.encode(statement, seq: seq, after: prev)
            hash.withUnsafeMutableBytes { Blake2b.hash(scratch.written, into: $0) }
            guard column(statement, 16, equals: hash) else { return nil }
            if let cp = named[seq] {
                guard cp == hash else { return nil }
                matchedCheckpoints += 1
            }
            swap(&prev, &hash)
            expected += 1
            report.rowsChecked += 1
        }
        // A checkpoint past the last row means rows were cut off the end.
        guard matchedCheckpoints == named.count else { return nil }
        report.firstSeq = report.rowsChecked > 0 ? 1 : 0
        report.lastSeq = expected - 1
        report.unsignedTail = Int(report.lastSeq - (named.keys.max() ?? 0))
        return report
    }

    private static func column(_ s: OpaquePointer, _ column: Int32, equals expected: [UInt8]) -> Bool {
        guard Int(sqlite3_column_bytes(s, column)) == expected.count, let p = sqlite3_column_blob(s, column) else { return false }
        return expected.withUnsafeBytes { memcmp($0.baseAddress!, p, expected.count) == 0 }
    }

}

/// A reusable buffer for one row's hashed bytes, written with a cursor (no per-append
/// uniqueness checks; grown only when a row is longer than any before it).
private struct RowScratch {
    var buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1024, alignment: 8)
    var count = 0

    var written: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: buffer[..<count]) }

    /// prev ‖ `AuditEncoding.row` of the current row, from the column bytes.
    mutating func encode(_ s: OpaquePointer, seq: Int64, after prev: [UInt8]) {
        count = 0
        raw(prev)
        text(AuditEncoding.rowLabel)
        u64(UInt64(bitPattern: seq))
        text(s, 1)  // time
        text(s, 2)  // role
        optionalU32(s, 3)  // uid
        optionalU32(s, 4)  // gid
        optionalU32(s, 5)  // pid (two's complement)
        optionalText(s, 6)  // session id
        text(s, 7)  // action
        optionalText(s, 8)  // connection
        optionalText(s, 9)  // project
        optionalText(s, 10)  // kind
        if sqlite3_column_type(s, 11) == SQLITE_NULL {
            byte(0)
        } else {
            byte(1)
            u64(UInt64(bitPattern: sqlite3_column_int64(s, 11)))  // version
        }
        text(s, 12)  // outcome
        optionalText(s, 13)  // reason
        optionalText(s, 14)  // request id
    }

    /// Room for `n` more bytes plus the fixed-size fields that may follow.
    private mutating func reserve(_ n: Int) {
        guard count + n + 64 > buffer.count else { return }
        let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: (count + n + 64) * 2, alignment: 8)
        bigger.copyMemory(from: UnsafeRawBufferPointer(rebasing: buffer[..<count]))
        buffer.deallocate()
        buffer = bigger
    }

    private mutating func byte(_ b: UInt8) {
        buffer[count] = b
        count += 1
    }

    private mutating func u32(_ v: UInt32) {
        buffer.storeBytes(of: v.bigEndian, toByteOffset: count, as: UInt32.self)
        count += 4
    }

    private mutating func u64(_ v: UInt64) {
        buffer.storeBytes(of: v.bigEndian, toByteOffset: count, as: UInt64.self)
        count += 8
    }

    private mutating func raw(_ bytes: [UInt8]) {
        reserve(bytes.count)
        bytes.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: buffer[count..<(count + $0.count)]).copyMemory(from: $0) }
        count += bytes.count
    }

    private mutating func text(_ bytes: [UInt8]) {
        u32(UInt32(bytes.count))
        raw(bytes)
    }

    private mutating func text(_ s: OpaquePointer, _ column: Int32) {
        let p = sqlite3_column_text(s, column)  // text first, then its length (SQLite's advice)
        let n = Int(sqlite3_column_bytes(s, column))
        reserve(n)
        u32(UInt32(n))
        if n > 0, let p {
            (buffer.baseAddress! + count).copyMemory(from: p, byteCount: n)
            count += n
        }
    }

    private mutating func optionalText(_ s: OpaquePointer, _ column: Int32) {
        guard sqlite3_column_type(s, column) != SQLITE_NULL else { return byte(0) }
        byte(1)
        text(s, column)
    }

    private mutating func optionalU32(_ s: OpaquePointer, _ column: Int32) {
        guard sqlite3_column_type(s, column) != SQLITE_NULL else { return byte(0) }
        byte(1)
        u32(UInt32(truncatingIfNeeded: sqlite3_column_int64(s, column)))
    }
}
