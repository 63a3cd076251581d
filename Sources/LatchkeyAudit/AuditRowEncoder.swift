import LatchkeyCrypto
package import LatchkeyStore

/// The columns of an audit row, in the order the encoding takes them (and the order
/// `StoredChainCheck` selects them in: the raw value is the column index).
enum AuditColumn: Int32 {
    case seq = 0, time, role, uid, gid, pid, session, action, connection, project, kind, version, outcome, reason, requestID
    /// After prev_hash (15) and row_hash (16) in `StoredChainCheck.columns`.
    case clientRequestID = 17
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
    static let rowLabel = Array("latchkey-audit-row-v1".utf8)
    static let uidRange: ClosedRange<Int64> = 0...Int64(UInt32.max)
    static let pidRange: ClosedRange<Int64> = Int64(Int32.min)...Int64(Int32.max)

    /// Writes `prev ‖ encoding(row)` (what the row hash covers) into `out`.
    static func encode<V: AuditRowValues>(_ v: V, after prev: [UInt8], into out: AuditRowBuffer) throws(AuditRowError) {
        let seq = v.seq
        func refuse(_ reason: String) -> AuditRowError { AuditRowError(seq: seq, reason: reason) }
        guard seq >= 1 else { throw refuse("seq \(seq) is not positive") }
        out.reset()
        out.raw(prev)
        out.text(rowLabel)
        out.u64(UInt64(bitPattern: seq))
        try requiredText(v, .time, "time", out, refuse) { bytes in Self.isStoredTime(bytes) ? nil : "time is not of the form YYYY-MM-DDTHH:MM:SS.ffffffZ" }
        try requiredText(v, .role, "actor_role", out, refuse)
        try optionalInteger(v, .uid, "actor_uid", uidRange, out, refuse) { out.u32(UInt32($0)) }
        try optionalInteger(v, .gid, "actor_gid", uidRange, out, refuse) { out.u32(UInt32($0)) }
        try optionalInteger(v, .pid, "actor_pid", pidRange, out, refuse) { out.u32(UInt32(bitPattern: Int32($0))) }
        try optionalText(v, .session, "session_id", out, refuse)
        try requiredText(v, .action, "action", out, refuse)
        try optionalText(v, .connection, "target_connection", out, refuse)
        try optionalText(v, .project, "target_project", out, refuse)
        try optionalText(v, .kind, "target_kind", out, refuse)
        try optionalInteger(v, .version, "target_version", Int64.min...Int64.max, out, refuse) { out.u64(UInt64(bitPattern: $0)) }
        try requiredText(v, .outcome, "outcome", out, refuse) { bytes in
            AuditEntry.Outcome(rawValue: String(decoding: bytes, as: UTF8.self)) == nil ? "outcome is not granted, denied or failed" : nil
        }
        try optionalText(v, .reason, "reason", out, refuse)
        try optionalText(v, .requestID, "request_id", out, refuse)
        try textIfPresent(v, .clientRequestID, "client_request_id", out, refuse)
    }

    /// A field hashed only when present (`string(x)`, no presence byte), so rows without
    /// it — every row from before it existed — encode exactly as they always did.
    private static func textIfPresent<V: AuditRowValues>(
        _ v: V, _ c: AuditColumn, _ name: String, _ out: AuditRowBuffer, _ refuse: (String) -> AuditRowError
    ) throws(AuditRowError) {
        guard v.isWellTyped(c, integer: false) else { throw refuse("\(name) is not text") }
        let problem: String? = v.text(c) { bytes in
            guard let bytes else { return nil }
            guard isValidUTF8(bytes) else { return "\(name) is not valid UTF-8" }
            out.text(bytes)
            return nil
        }
        if let problem { throw refuse(problem) }
    }

    /// BLAKE2b-256 of what `encode` wrote.
    static func hash<V: AuditRowValues>(_ v: V, after prev: [UInt8], scratch: AuditRowBuffer) throws(AuditRowError) -> [UInt8] {
        try encode(v, after: prev, into: scratch)
        var hash = [UInt8](repeating: 0, count: Blake2b.outputBytes256)
        hash.withUnsafeMutableBytes { Blake2b.hash(scratch.written, into: $0) }
        return hash
    }

    private static func requiredText<V: AuditRowValues>(
        _ v: V, _ c: AuditColumn, _ name: String, _ out: AuditRowBuffer, _ refuse: (String) -> AuditRowError,
        check: (UnsafeRawBufferPointer) -> String? = { _ in nil }
    ) throws(AuditRowError) {
        guard v.isWellTyped(c, integer: false) else { throw refuse("\(name) is not text") }
        let problem: String? = v.text(c) { bytes in
            guard let bytes else { return "\(name) is missing" }
            guard isValidUTF8(bytes) else { return "\(name) is not valid UTF-8" }
            if let p = check(bytes) { return p }
            out.text(bytes)
            return nil
        }
        if let problem { throw refuse(problem) }
    }

    private static func optionalText<V: AuditRowValues>(
        _ v: V, _ c: AuditColumn, _ name: String, _ out: AuditRowBuffer, _ refuse: (String) -> AuditRowError
    ) throws(AuditRowError) {
        guard v.isWellTyped(c, integer: false) else { throw refuse("\(name) is not text") }
        let problem: String? = v.text(c) { bytes in
            guard let bytes else {
                out.byte(0)
                return nil
            }
            guard isValidUTF8(bytes) else { return "\(name) is not valid UTF-8" }
            out.byte(1)
            out.text(bytes)
            return nil
        }
        if let problem { throw refuse(problem) }
    }

    private static func optionalInteger<V: AuditRowValues>(
        _ v: V, _ c: AuditColumn, _ name: String, _ range: ClosedRange<Int64>, _ out: AuditRowBuffer,
        _ refuse: (String) -> AuditRowError, write: (Int64) -> Void
    ) throws(AuditRowError) {
        guard v.isWellTyped(c, integer: true) else { throw refuse("\(name) is not an integer") }
        guard let value = v.integer(c) else { return out.byte(0) }
        guard range.contains(value) else { throw refuse("\(name) \(value) is outside \(range.lowerBound)…\(range.upperBound)") }
        out.byte(1)
        write(value)
    }

    /// `YYYY-MM-DDTHH:MM:SS.ffffffZ`, digits where digits go (the form `Timestamp` writes).
    static func isStoredTime(_ b: UnsafeRawBufferPointer) -> Bool {
        guard b.count == 27 else { return false }
        for (i, ch) in b.enumerated() {
            switch i {
            case 4, 7: if ch != 0x2d { return false }
            case 10: if ch != 0x54 { return false }
            case 13, 16: if ch != 0x3a { return false }
            case 19: if ch != 0x2e { return false }
            case 26: if ch != 0x5a { return false }
            default: if ch < 0x30 || ch > 0x39 { return false }
            }
        }
        return true
    }

    static func isValidUTF8(_ b: UnsafeRawBufferPointer) -> Bool {
        if !b.contains(where: { $0 >= 0x80 }) { return true }
        return String(validating: b, as: UTF8.self) != nil
    }
}

/// A reusable buffer for one row's hashed bytes, written with a cursor (grown only when
/// a row is longer than any before it).
final class AuditRowBuffer {
    private(set) var buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1024, alignment: 8)
    private(set) var count = 0

    deinit { buffer.deallocate() }

    var written: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: buffer[..<count]) }
    var bytes: [UInt8] { Array(written) }

    func reset() { count = 0 }

    /// Room for `n` more bytes plus the fixed-size fields that may follow.
    private func reserve(_ n: Int) {
        guard count + n + 64 > buffer.count else { return }
        let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: (count + n + 64) * 2, alignment: 8)
        bigger.copyMemory(from: UnsafeRawBufferPointer(rebasing: buffer[..<count]))
        buffer.deallocate()
        buffer = bigger
    }

    func byte(_ b: UInt8) {
        reserve(1)
        buffer[count] = b
        count += 1
    }

    func u32(_ v: UInt32) {
        reserve(4)
        buffer.storeBytes(of: v.bigEndian, toByteOffset: count, as: UInt32.self)
        count += 4
    }

    func u64(_ v: UInt64) {
        reserve(8)
        buffer.storeBytes(of: v.bigEndian, toByteOffset: count, as: UInt64.self)
        count += 8
    }

    func raw(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw($0) }
    }

    func raw(_ bytes: UnsafeRawBufferPointer) {
        reserve(bytes.count)
        if bytes.count > 0 { (buffer.baseAddress! + count).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
        count += bytes.count
    }

    /// u32 length ‖ bytes.
    func text(_ bytes: UnsafeRawBufferPointer) {
        u32(UInt32(bytes.count))
        raw(bytes)
    }

    func text(_ bytes: [UInt8]) { bytes.withUnsafeBytes { text($0) } }
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
