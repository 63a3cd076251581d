import LatchkeyCrypto
public import LatchkeyStore

/// The canonical byte encoding of a row and of a checkpoint's signed message. This is
/// part of the on-disk format: it must never change (see docs/AUDIT.md).
///
/// Row: the string "latchkey-audit-row-v1", then in order seq (u64), time (string,
/// `Timestamp` form), role (string), uid (opt u32), gid (opt u32), pid (opt u32, two's
/// complement), session id (opt string), action (string), connection (opt string),
/// project (opt string), kind (opt string), version (opt u64, two's complement),
/// outcome (string), reason (opt string), request id (opt string), and only when
/// present the client's request id (string) — rows without one, every row written
/// before the field existed among them, encode exactly as before.
/// A string is a u32 big-endian byte length then UTF-8; integers are big-endian;
/// an optional is 0x00 when absent, else 0x01 then the value.
public enum AuditEncoding {
    public static let zeroHash = [UInt8](repeating: 0, count: 32)
    static let rowLabel = Array("latchkey-audit-row-v1".utf8)
    static let checkpointLabel = Array("latchkey-audit-checkpoint-v1".utf8)

    public static func row(seq: Int64, time: Timestamp, entry e: AuditEntry, into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        string(rowLabel, &out)
        u64(UInt64(bitPattern: seq), &out)
        string(Array(time.description.utf8), &out)
        string(Array(e.actor.role.utf8), &out)
        optional(e.actor.uid, &out) { u32($0, &$1) }
        optional(e.actor.gid, &out) { u32($0, &$1) }
        optional(e.actor.pid, &out) { u32(UInt32(bitPattern: $0), &$1) }
        optional(e.actor.sessionID, &out) { string(Array($0.utf8), &$1) }
        string(Array(e.action.utf8), &out)
        optional(e.target.connection, &out) { string(Array($0.utf8), &$1) }
        optional(e.target.project, &out) { string(Array($0.utf8), &$1) }
        optional(e.target.kind, &out) { string(Array($0.utf8), &$1) }
        optional(e.target.version, &out) { u64(UInt64(bitPattern: $0), &$1) }
        string(Array(e.outcome.rawValue.utf8), &out)
        optional(e.reason, &out) { string(Array($0.utf8), &$1) }
        optional(e.requestID, &out) { string(Array($0.utf8), &$1) }
        if let client = e.clientRequestID { string(Array(client.utf8), &out) }
    }

    /// BLAKE2b-256(prevHash ‖ row encoding).
    public static func rowHash(prevHash: [UInt8], seq: Int64, time: Timestamp, entry: AuditEntry, scratch: inout [UInt8]) -> [UInt8] {
        row(seq: seq, time: time, entry: entry, into: &scratch)
        var h = Blake2b()
        h.update(prevHash)
        h.update(scratch)
        return h.finalize()
    }

    /// The message a checkpoint signs: label, id (u64), audit seq (u64), head hash
    /// (string), time (string).
    public static func checkpointMessage(id: Int64, auditSeq: Int64, headHash: [UInt8], time: Timestamp) -> [UInt8] {
        var out: [UInt8] = []
        string(checkpointLabel, &out)
        u64(UInt64(bitPattern: id), &out)
        u64(UInt64(bitPattern: auditSeq), &out)
        string(headHash, &out)
        string(Array(time.description.utf8), &out)
        return out
    }

    static func u32(_ v: UInt32, _ out: inout [UInt8]) {
        out.append(UInt8(v >> 24)); out.append(UInt8((v >> 16) & 0xff)); out.append(UInt8((v >> 8) & 0xff)); out.append(UInt8(v & 0xff))
    }

    static func u64(_ v: UInt64, _ out: inout [UInt8]) {
        u32(UInt32(v >> 32), &out)
        u32(UInt32(v & 0xffff_ffff), &out)
    }

    static func string(_ b: [UInt8], _ out: inout [UInt8]) {
        u32(UInt32(b.count), &out)
        out += b
    }

    static func optional<T>(_ v: T?, _ out: inout [UInt8], _ write: (T, inout [UInt8]) -> Void) {
        if let v {
            out.append(1)
            write(v, &out)
        } else {
            out.append(0)
        }
    }
}
