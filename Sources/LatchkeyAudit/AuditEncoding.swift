import LatchkeyCrypto
package import LatchkeyStore

/// The canonical byte encodings of a row and of a checkpoint's signed message. This is
/// part of the on-disk format: it must never change (see docs/AUDIT.md).
///
/// Row: see `AuditRowEncoder`, the one encoder every reader and the writer use.
/// Checkpoint (v2): the string "latchkey-audit-checkpoint-v2", then id (u64), audit seq
/// (u64), head hash (string), time (string), the previous checkpoint's id (u64, 0 for
/// the first) and hash (string; 32 zero bytes for the first). A checkpoint's hash is
/// BLAKE2b-256 of its message, so each signs the one before it and none can be removed
/// or replaced without breaking the next. v1 (before the chain) had no previous fields.
/// A string is a u32 big-endian byte length then UTF-8; integers are big-endian;
/// an optional is 0x00 when absent, else 0x01 then the value.
package enum AuditEncoding {
    package static let zeroHash = [UInt8](repeating: 0, count: 32)
    static let checkpointLabelV1 = Array("latchkey-audit-checkpoint-v1".utf8)
    static let checkpointLabelV2 = Array("latchkey-audit-checkpoint-v2".utf8)

    /// encoding(row), without the previous hash in front (for vectors and docs).
    package static func row(seq: Int64, time: Timestamp, entry: AuditEntry) throws(AuditRowError) -> [UInt8] {
        let buffer = AuditRowBuffer()
        try AuditRowEncoder.encode(RecordValues(seq: seq, time: time, entry: entry), after: [], into: buffer)
        return buffer.bytes
    }

    /// BLAKE2b-256(prevHash ‖ row encoding).
    package static func rowHash(prevHash: [UInt8], seq: Int64, time: Timestamp, entry: AuditEntry) throws(AuditRowError) -> [UInt8] {
        try rowHash(prevHash: prevHash, seq: seq, time: time, entry: entry, scratch: AuditRowBuffer())
    }

    static func rowHash(prevHash: [UInt8], seq: Int64, time: Timestamp, entry: AuditEntry, scratch: AuditRowBuffer) throws(AuditRowError) -> [UInt8] {
        try AuditRowEncoder.hash(RecordValues(seq: seq, time: time, entry: entry), after: prevHash, scratch: scratch)
    }

    /// The message checkpoint `cp` signs: v2 when it names a previous hash, else v1.
    package static func checkpointMessage(_ cp: Checkpoint) -> [UInt8] {
        var out: [UInt8] = []
        string(cp.prevHash == nil ? checkpointLabelV1 : checkpointLabelV2, &out)
        u64(UInt64(bitPattern: cp.id), &out)
        u64(UInt64(bitPattern: cp.auditSeq), &out)
        string(cp.headHash, &out)
        string(Array(cp.time.description.utf8), &out)
        if let prev = cp.prevHash {
            u64(UInt64(bitPattern: cp.id - 1), &out)
            string(prev, &out)
        }
        return out
    }

    /// BLAKE2b-256 of a checkpoint's message: what the next checkpoint names as previous.
    package static func checkpointHash(_ cp: Checkpoint) -> [UInt8] {
        Blake2b.hash(checkpointMessage(cp))
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
}
