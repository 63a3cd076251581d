import Foundation
import LatchkeyCrypto
package import LatchkeyStore

/// The columns of an audit row, in the order the encoding takes them (and the order
/// `StoredChainCheck` selects them in: the raw value is the column index).
enum AuditColumn: Int32, CaseIterable {
    case seq = 0, time, role, uid, gid, pid, session, action, connection, project, kind, version, outcome, reason, requestID
    /// Not encoded: the hash a row chains to and its own, which the check compares.
    case prevHash = 15, rowHash
    case clientRequestID = 17
    case host = 18

    /// The stored type a column must have (or NULL).
    enum Kind: String {
        case text, integer = "an integer", blob = "a blob"
    }

    /// The column's name in the `audit` table.
    var name: StaticString {
        switch self {
        case .seq: "seq"
        case .time: "time"
        case .role: "actor_role"
        case .uid: "actor_uid"
        case .gid: "actor_gid"
        case .pid: "actor_pid"
        case .session: "session_id"
        case .action: "action"
        case .connection: "target_connection"
        case .project: "target_project"
        case .kind: "target_kind"
        case .version: "target_version"
        case .outcome: "outcome"
        case .reason: "reason"
        case .requestID: "request_id"
        case .prevHash: "prev_hash"
        case .rowHash: "row_hash"
        case .clientRequestID: "client_request_id"
        case .host: "host"
        }
    }

    var storedKind: Kind {
        switch self {
        case .seq, .uid, .gid, .pid, .version: .integer
        case .prevHash, .rowHash: .blob
        default: .text
        }
    }
}

/// One row's values as the encoder reads them: a decoded record or SQLite's column bytes.
/// `text` hands the bytes of a text column to `body` (nil for NULL); `integer` returns an
/// integer column (nil for NULL); `isWellTyped` says whether the stored type is what the
/// column holds (an edited schema can make SQLite return another type converted).
protocol AuditRowValues {
    var seq: Int64 { get }
    func text<R>(_ column: AuditColumn, _ body: (UnsafeRawBufferPointer?) -> R) -> R
    func integer(_ column: AuditColumn) -> Int64?
    func isWellTyped(_ column: AuditColumn, integer: Bool) -> Bool
}

/// Why a stored row cannot be encoded: it could never have been written by the daemon.
package struct AuditRowError: Error, Sendable, Equatable, CustomStringConvertible {
    package var seq: Int64
    package var reason: String
    package var description: String { "audit row \(seq) is malformed: \(reason)" }
}

/// The one encoder of an audit row (docs/AUDIT.md, "The canonical encoding of a row").
///
/// The writer, the streaming check and the full verifier all encode through it, so they
/// can never disagree about a row. It is strict: uid and gid must fit a u32 and a pid an
/// i32 (a value outside would be written as another one), the time must have the stored
/// form exactly, every text must be valid UTF-8 and present where required, and every
/// column must hold its own type. A row it refuses is reported as malformed, never
/// hashed as something else.
enum AuditRowEncoder {
    // Static strings, not arrays: read on every row, they cost no lazy initialisation
    // check and no reference counting.
    static let rowLabel: StaticString = "latchkey-audit-row-v1"
    /// A row that names its host (a fleet's): its own label, so no v1 row encodes like it.
    static let hostRowLabel: StaticString = "latchkey-audit-row-v2"
    static let uidRange: ClosedRange<Int64> = 0...Int64(UInt32.max)
    static let pidRange: ClosedRange<Int64> = Int64(Int32.min)...Int64(Int32.max)

    /// Writes `prev ‖ encoding(row)` (what the row hash covers) into `out`.
    ///
    /// Every stored row of a verification passes through here, so the checks are made on
    /// the column bytes with no strings built; a refusal's message is made only when there
    /// is one.
    static func encode<V: AuditRowValues>(_ v: V, after prev: [UInt8], into buffer: AuditRowBuffer) throws(AuditRowError) {
        // One exclusive access to the buffer's cursor for the whole row, not one per field.
        try encode(v, after: prev, into: &buffer.writer)
    }

    private static func encode<V: AuditRowValues>(_ v: V, after prev: [UInt8], into out: inout AuditRowWriter) throws(AuditRowError) {
        let seq = v.seq
        guard seq >= 1 else { throw AuditRowError(seq: seq, reason: "seq \(seq) is not positive") }
        out.reset()
        out.raw(prev)
        let named = v.text(.host) { $0 != nil }
        let label = named ? hostRowLabel : rowLabel
        out.text(UnsafeRawBufferPointer(start: label.utf8Start, count: label.utf8CodeUnitCount))
        out.u64(UInt64(bitPattern: seq))
        try put(v, .time, .required, .storedTime, &out)
        try put(v, .role, .required, .none, &out)
        try putInteger(v, .uid, uidRange, .u32, &out)
        try putInteger(v, .gid, uidRange, .u32, &out)
        try putInteger(v, .pid, pidRange, .i32, &out)
        try put(v, .session, .optional, .none, &out)
        try put(v, .action, .required, .none, &out)
        try put(v, .connection, .optional, .none, &out)
        try put(v, .project, .optional, .none, &out)
        try put(v, .kind, .optional, .none, &out)
        try putInteger(v, .version, Int64.min...Int64.max, .i64, &out)
        try put(v, .outcome, .required, .outcome, &out)
        try put(v, .reason, .optional, .none, &out)
        try put(v, .requestID, .optional, .none, &out)
        if named {
            // v2: every field has its place, the host last.
            try put(v, .clientRequestID, .optional, .none, &out)
            try put(v, .host, .required, .none, &out)
        } else {
            // Hashed only when present (`string(x)`, no presence byte), so rows without it —
            // every row from before it existed — encode exactly as they always did.
            try put(v, .clientRequestID, .ifPresent, .none, &out)
        }
    }

    /// How a text column is encoded: required (`string(x)`, NULL refused), optional
    /// (a presence byte, then `string(x)`), or only if present (`string(x)` or nothing).
    enum TextPresence { case required, optional, ifPresent }
    /// What a text column's bytes must be beyond valid UTF-8.
    enum TextForm { case none, storedTime, outcome }
    private enum TextFault { case missing, notUTF8, form }
    /// How an integer column is written: u32, i32 as its u32 bit pattern, or i64 as u64's.
    private enum IntegerWidth { case u32, i32, i64 }

    @inline(__always)
    private static func put<V: AuditRowValues>(
        _ v: V, _ c: AuditColumn, _ presence: TextPresence, _ form: TextForm, _ out: inout AuditRowWriter
    ) throws(AuditRowError) {
        let name = c.name
        guard v.isWellTyped(c, integer: false) else { throw AuditRowError(seq: v.seq, reason: "\(name) is not text") }
        let fault: TextFault? = v.text(c) { bytes in
            guard let bytes else {
                switch presence {
                case .required: return .missing
                case .optional: out.byte(0)
                case .ifPresent: break
                }
                return nil
            }
            guard isValidUTF8(bytes) else { return .notUTF8 }
            switch form {
            case .none: break
            case .storedTime: if !isStoredTime(bytes) { return .form }
            case .outcome: if !isOutcome(bytes) { return .form }
            }
            if presence == .optional { out.byte(1) }
            out.text(bytes)
            return nil
        }
        guard let fault else { return }
        let reason: String
        switch fault {
        case .missing: reason = "\(name) is missing"
        case .notUTF8: reason = "\(name) is not valid UTF-8"
        case .form:
            reason = form == .storedTime ? "time is not of the form YYYY-MM-DDTHH:MM:SS.ffffffZ" : "outcome is not granted, denied or failed"
        }
        throw AuditRowError(seq: v.seq, reason: reason)
    }

    @inline(__always)
    private static func putInteger<V: AuditRowValues>(
        _ v: V, _ c: AuditColumn, _ range: ClosedRange<Int64>, _ width: IntegerWidth, _ out: inout AuditRowWriter
    ) throws(AuditRowError) {
        let name = c.name
        guard v.isWellTyped(c, integer: true) else { throw AuditRowError(seq: v.seq, reason: "\(name) is not an integer") }
        guard let value = v.integer(c) else { return out.byte(0) }
        guard range.contains(value) else {
            throw AuditRowError(seq: v.seq, reason: "\(name) \(value) is outside \(range.lowerBound)…\(range.upperBound)")
        }
        out.byte(1)
        switch width {
        case .u32: out.u32(UInt32(value))
        case .i32: out.u32(UInt32(bitPattern: Int32(value)))
        case .i64: out.u64(UInt64(bitPattern: value))
        }
    }

    /// One of the outcomes `AuditEntry.Outcome` names, compared as bytes (spelled out
    /// here, not read from an array, for the same reason as the labels; a test holds the
    /// list to `AuditEntry.Outcome.allCases`).
    static func isOutcome(_ b: UnsafeRawBufferPointer) -> Bool {
        func spells(_ s: StaticString) -> Bool { s.utf8CodeUnitCount == b.count && memcmp(s.utf8Start, b.baseAddress!, b.count) == 0 }
        return spells("granted") || spells("denied") || spells("failed")
    }

    /// BLAKE2b-256 of what `encode` wrote.
    static func hash<V: AuditRowValues>(_ v: V, after prev: [UInt8], scratch: AuditRowBuffer) throws(AuditRowError) -> [UInt8] {
        try encode(v, after: prev, into: scratch)
        var hash = [UInt8](repeating: 0, count: Blake2b.outputBytes256)
        hash.withUnsafeMutableBytes { Blake2b.hash(scratch.written, into: $0) }
        return hash
    }

    /// `YYYY-MM-DDTHH:MM:SS.ffffffZ`, digits where digits go (the form `Timestamp` writes).
    ///
    /// Read as four overlapping 8-byte words, each compared with the form: a separator
    /// byte must equal the form's, a digit byte XOR `0` must be 0…9.
    static func isStoredTime(_ b: UnsafeRawBufferPointer) -> Bool {
        guard b.count == 27 else { return false }
        // (offset, separator bytes where the form has one, 0xFF where a digit goes); little-endian words.
        return timeWord(b, 0, separators: 0x2D00_002D_0000_0000, digits: 0x00FF_FF00_FFFF_FFFF)  // YYYY-MM-
            && timeWord(b, 8, separators: 0x0000_3A00_0054_0000, digits: 0xFFFF_00FF_FF00_FFFF)  // DDTHH:MM
            && timeWord(b, 16, separators: 0x0000_0000_2E00_003A, digits: 0xFFFF_FFFF_00FF_FF00)  // :SS.ffff
            && timeWord(b, 19, separators: 0x5A00_0000_0000_002E, digits: 0x00FF_FFFF_FFFF_FF00)  // .ffffffZ
    }

    @inline(__always)
    private static func timeWord(_ b: UnsafeRawBufferPointer, _ offset: Int, separators: UInt64, digits: UInt64) -> Bool {
        let word = UInt64(littleEndian: b.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        guard word & ~digits == separators else { return false }
        let d = (word ^ 0x3030_3030_3030_3030) & digits  // each digit byte now its value, if it is a digit
        // A byte above 9 has its high bit set, or gets it by adding 0x76 (0x7F - 9); no carry
        // crosses a byte below 0x80.
        return (d | (d &+ (0x7676_7676_7676_7676 & digits))) & 0x8080_8080_8080_8080 == 0
    }

    /// ASCII (nearly every column) is confirmed eight bytes at a time; anything else is
    /// left to the standard library's validator.
    static func isValidUTF8(_ b: UnsafeRawBufferPointer) -> Bool {
        isASCII(b) || String(validating: b, as: UTF8.self) != nil
    }

    @inline(__always)
    static func isASCII(_ b: UnsafeRawBufferPointer) -> Bool {
        let n = b.count
        var i = 0
        var high: UInt64 = 0
        while i + 8 <= n {
            high |= b.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            i += 8
        }
        while i < n {
            high |= UInt64(b[i])
            i += 1
        }
        return high & 0x8080_8080_8080_8080 == 0
    }
}

/// A reusable buffer for one row's hashed bytes (grown only when a row is longer than
/// any before it). The encoder writes through its `writer`.
final class AuditRowBuffer {
    fileprivate var writer = AuditRowWriter()

    deinit { writer.buffer.deallocate() }

    var written: UnsafeRawBufferPointer { writer.written }
    var bytes: [UInt8] { Array(writer.written) }
}

/// The cursor over `AuditRowBuffer`'s memory, a value the encoder holds `inout` for one
/// row (so writing a field costs no reference counting).
struct AuditRowWriter {
    fileprivate private(set) var buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1024, alignment: 8)
    private(set) var count = 0

    var written: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: buffer[..<count]) }

    mutating func reset() { count = 0 }

    /// Room for `n` more bytes plus the fixed-size fields that may follow.
    @inline(__always)
    private mutating func reserve(_ n: Int) {
        guard count + n + 64 > buffer.count else { return }
        grow(n)
    }

    @inline(never)
    private mutating func grow(_ n: Int) {
        let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: (count + n + 64) * 2, alignment: 8)
        bigger.copyMemory(from: UnsafeRawBufferPointer(rebasing: buffer[..<count]))
        buffer.deallocate()
        buffer = bigger
    }

    @inline(__always)
    mutating func byte(_ b: UInt8) {
        reserve(1)
        buffer[count] = b
        count += 1
    }

    @inline(__always)
    mutating func u32(_ v: UInt32) {
        reserve(4)
        buffer.storeBytes(of: v.bigEndian, toByteOffset: count, as: UInt32.self)
        count += 4
    }

    @inline(__always)
    mutating func u64(_ v: UInt64) {
        reserve(8)
        buffer.storeBytes(of: v.bigEndian, toByteOffset: count, as: UInt64.self)
        count += 8
    }

    @inline(__always)
    mutating func raw(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw($0) }
    }

    @inline(__always)
    mutating func raw(_ bytes: UnsafeRawBufferPointer) {
        reserve(bytes.count)
        if bytes.count > 0 { (buffer.baseAddress! + count).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
        count += bytes.count
    }

    /// u32 length ‖ bytes.
    @inline(__always)
    mutating func text(_ bytes: UnsafeRawBufferPointer) {
        u32(UInt32(bytes.count))
        raw(bytes)
    }

    @inline(__always)
    mutating func text(_ bytes: [UInt8]) { bytes.withUnsafeBytes { text($0) } }
}

/// A decoded record's values (what the writer hashes, and the full verifier).
struct RecordValues: AuditRowValues {
    let seq: Int64
    let time: String
    let entry: AuditEntry

    init(seq: Int64, time: Timestamp, entry: AuditEntry) {
        self.seq = seq
        self.time = time.description
        self.entry = entry
    }

    func text<R>(_ column: AuditColumn, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
        let s: String?
        switch column {
        case .time: s = time
        case .role: s = entry.actor.role
        case .session: s = entry.actor.sessionID
        case .action: s = entry.action
        case .connection: s = entry.target.connection
        case .project: s = entry.target.project
        case .kind: s = entry.target.kind
        case .outcome: s = entry.outcome.rawValue
        case .reason: s = entry.reason
        case .requestID: s = entry.requestID
        case .clientRequestID: s = entry.clientRequestID
        case .host: s = entry.host
        default: s = nil
        }
        guard var s else { return body(nil) }
        return s.withUTF8 { body(UnsafeRawBufferPointer($0)) }
    }

    func integer(_ column: AuditColumn) -> Int64? {
        switch column {
        case .uid: entry.actor.uid.map(Int64.init)
        case .gid: entry.actor.gid.map(Int64.init)
        case .pid: entry.actor.pid.map(Int64.init)
        case .version: entry.target.version
        default: nil
        }
    }

    func isWellTyped(_ column: AuditColumn, integer: Bool) -> Bool { true }
}
