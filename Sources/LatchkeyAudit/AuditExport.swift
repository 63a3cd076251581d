import LatchkeyCrypto
package import LatchkeyStore

/// The JSON Lines export: a header line, then every row, then every checkpoint; each
/// line a flat object with a `type`. Everything needed to verify is in it.
package enum AuditExport {
    /// /2 adds the checkpoints' `prevHash` (the checkpoint chain); /1 exports still read.
    package static let format = "latchkey-audit-export/2"
    static let formatV1 = "latchkey-audit-export/1"
    /// Longest line accepted when reading.
    package static let maxLineBytes = 64 * 1024

    package static func header(publicKey: [UInt8], exportedAt: Timestamp = .now()) -> String {
        "{\"type\":\"header\",\"format\":\"\(format)\",\"publicKey\":\"\(Hex.encode(publicKey))\",\"exportedAt\":\"\(exportedAt)\"}"
    }

    package static func line(_ r: AuditRecord) -> String {
        let e = r.entry
        var s = "{\"type\":\"row\",\"seq\":\(r.seq),\"time\":\"\(r.time)\",\"role\":\(q(e.actor.role))"
        s += ",\"uid\":\(n(e.actor.uid)),\"gid\":\(n(e.actor.gid)),\"pid\":\(n(e.actor.pid)),\"session\":\(q(e.actor.sessionID))"
        s += ",\"action\":\(q(e.action)),\"connection\":\(q(e.target.connection)),\"project\":\(q(e.target.project))"
        s += ",\"kind\":\(q(e.target.kind)),\"version\":\(n(e.target.version)),\"outcome\":\(q(e.outcome.rawValue))"
        s += ",\"reason\":\(q(e.reason)),\"requestId\":\(q(e.requestID))"
        if let client = e.clientRequestID { s += ",\"clientRequestId\":\(q(client))" }
        if let host = e.host { s += ",\"host\":\(q(host))" }
        s += ",\"prevHash\":\"\(Hex.encode(r.prevHash))\",\"rowHash\":\"\(Hex.encode(r.rowHash))\"}"
        return s
    }

    package static func line(_ c: Checkpoint) -> String {
        let prev = c.prevHash.map { "\"\(Hex.encode($0))\"" } ?? "null"
        return "{\"type\":\"checkpoint\",\"id\":\(c.id),\"auditSeq\":\(c.auditSeq),\"headHash\":\"\(Hex.encode(c.headHash))\",\"time\":\"\(c.time)\",\"publicKey\":\"\(Hex.encode(c.publicKey))\",\"signature\":\"\(Hex.encode(c.signature))\",\"prevHash\":\(prev)}"
    }

    static func n(_ v: (some BinaryInteger)?) -> String { v.map { "\($0)" } ?? "null" }

    static func q(_ s: String?) -> String {
        guard let s else { return "null" }
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += "\\u" + String(repeating: "0", count: 4 - String(u.value, radix: 16).count) + String(u.value, radix: 16) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }

    /// What an export holds.
    package struct Contents: Sendable {
        package var publicKey: [UInt8]
        package var records: [AuditRecord]
        package var checkpoints: [Checkpoint]
    }

    static let rowFields: Set<String> = [
        "type", "seq", "time", "role", "uid", "gid", "pid", "session", "action", "connection", "project", "kind", "version",
        "outcome", "reason", "requestId", "prevHash", "rowHash",
    ]
    static let checkpointFieldsV1: Set<String> = ["type", "id", "auditSeq", "headHash", "time", "publicKey", "signature"]
    static let checkpointFields: Set<String> = checkpointFieldsV1.union(["prevHash"])
    static let headerFields: Set<String> = ["type", "format", "publicKey", "exportedAt"]

    /// Reads an export strictly: the header first, known fields only, each once.
    package static func read(_ bytes: [UInt8]) throws(AuditError) -> Contents {
        var contents = Contents(publicKey: [], records: [], checkpoints: [])
        var lineNumber = 0
        var start = 0
        var sawHeader = false
        var v1 = false
        while start < bytes.count {
            var end = start
            while end < bytes.count, bytes[end] != 10 { end += 1 }
            lineNumber += 1
            defer { start = end + 1 }
            guard end - start <= maxLineBytes else { throw .malformedExport(line: lineNumber, reason: "line longer than \(maxLineBytes) bytes") }
            if end == start { continue }
            let fields: [String: FlatJSON.Value]
            do {
                fields = try FlatJSON.parse(bytes[start..<end])
            } catch {
                throw .malformedExport(line: lineNumber, reason: error.reason)
            }
            let f = Fields(values: fields, line: lineNumber)
            switch try f.string("type") {
            case "header":
                try f.only(headerFields)
                guard !sawHeader else { throw .malformedExport(line: lineNumber, reason: "a second header") }
                let declared = try f.string("format")
                guard declared == format || declared == formatV1 else {
                    throw .malformedExport(line: lineNumber, reason: "unknown format (expected \(format))")
                }
                v1 = declared == formatV1
                contents.publicKey = try f.hex("publicKey", count: 32)
                sawHeader = true
            case "row":
                guard sawHeader else { throw .malformedExport(line: lineNumber, reason: "rows before the header") }
                try f.only(rowFields, optional: ["clientRequestId", "host"])
                let actor = AuditEntry.Actor(
                    role: try f.string("role"), uid: try f.optionalInt("uid", UInt32.self), gid: try f.optionalInt("gid", UInt32.self),
                    pid: try f.optionalInt("pid", Int32.self), sessionID: try f.optionalString("session"))
                guard let outcome = AuditEntry.Outcome(rawValue: try f.string("outcome")) else {
                    throw .malformedExport(line: lineNumber, reason: "unknown outcome")
                }
                let entry = AuditEntry(
                    actor: actor, action: try f.string("action"),
                    target: .init(connection: try f.optionalString("connection"), project: try f.optionalString("project"),
                        kind: try f.optionalString("kind"), version: try f.optionalInt("version", Int64.self)),
                    outcome: outcome, reason: try f.optionalString("reason"), requestID: try f.optionalString("requestId"),
                    clientRequestID: try f.absentOrString("clientRequestId"), host: try f.absentOrString("host"))
                contents.records.append(AuditRecord(
                    seq: try f.int("seq"), time: try f.time("time"), entry: entry, prevHash: try f.hex("prevHash", count: 32),
                    rowHash: try f.hex("rowHash", count: 32)))
            case "checkpoint":
                guard sawHeader else { throw .malformedExport(line: lineNumber, reason: "checkpoints before the header") }
                try f.only(v1 ? checkpointFieldsV1 : checkpointFields)
                var prev: [UInt8]?
                if !v1, case .string = f.values["prevHash"] { prev = try f.hex("prevHash", count: 32) } else if !v1 {
                    guard case .null? = f.values["prevHash"] else { throw .malformedExport(line: lineNumber, reason: "field 'prevHash' must be hex or null") }
                }
                contents.checkpoints.append(Checkpoint(
                    id: try f.int("id"), auditSeq: try f.int("auditSeq"), headHash: try f.hex("headHash", count: 32), time: try f.time("time"),
                    publicKey: try f.hex("publicKey", count: 32), signature: try f.hex("signature", count: 64), prevHash: prev))
            default:
                throw .malformedExport(line: lineNumber, reason: "unknown line type")
            }
        }
        guard sawHeader else { throw .malformedExport(line: max(lineNumber, 1), reason: "no header line; is this a Latchkey audit export?") }
        return contents
    }

    struct Fields {
        let values: [String: FlatJSON.Value]
        let line: Int

        /// Exactly `allowed`, plus any of `optional` (absent means null).
        func only(_ allowed: Set<String>, optional: Set<String> = []) throws(AuditError) {
            for k in values.keys where !allowed.contains(k) && !optional.contains(k) { throw .malformedExport(line: line, reason: "unknown field '\(k)'") }
            for k in allowed where values[k] == nil { throw .malformedExport(line: line, reason: "missing field '\(k)'") }
        }

        func string(_ k: String) throws(AuditError) -> String {
            guard case .string(let s)? = values[k] else { throw .malformedExport(line: line, reason: "field '\(k)' must be a string") }
            return s
        }

        /// A field that older lines do not carry: absent or null is nil.
        func absentOrString(_ k: String) throws(AuditError) -> String? {
            values[k] == nil ? nil : try optionalString(k)
        }

        func optionalString(_ k: String) throws(AuditError) -> String? {
            if case .null? = values[k] { return nil }
            return try string(k)
        }

        func int(_ k: String) throws(AuditError) -> Int64 {
            guard case .integer(let v)? = values[k] else { throw .malformedExport(line: line, reason: "field '\(k)' must be a whole number") }
            return v
        }

        func optionalInt<T: FixedWidthInteger>(_ k: String, _ type: T.Type) throws(AuditError) -> T? {
            if case .null? = values[k] { return nil }
            guard let v = T(exactly: try int(k)) else { throw .malformedExport(line: line, reason: "field '\(k)' is out of range") }
            return v
        }

        func hex(_ k: String, count: Int) throws(AuditError) -> [UInt8] {
            guard let b = Hex.decode(try string(k)), b.count == count else {
                throw .malformedExport(line: line, reason: "field '\(k)' must be \(count) bytes of hex")
            }
            return b
        }

        func time(_ k: String) throws(AuditError) -> Timestamp {
            let s = try string(k)
            guard let t = Timestamp(parsing: s), t.description == s else {
                throw .malformedExport(line: line, reason: "field '\(k)' is not a canonical UTC timestamp")
            }
            return t
        }
    }
}
