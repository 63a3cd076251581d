import Foundation
@testable import LatchkeyAudit
import LatchkeyCrypto
import LatchkeyStore
import LatchkeyTestSupport
import Testing

/// An audit row vector (Vectors/*.vec, made by make-vectors.py from docs/AUDIT.md alone):
/// `latchkey-audit-row-vector: 1`, then every header exactly once. `~` is an absent
/// value. A fleet's row (v2) also has `client-request-id` and `host`; the others predate
/// both and lack the two headers. Unknown, repeated or missing headers, or a name not `good-` / `bad-` fitting its
/// `expect`, fail the test.
struct RowVector: AuditRowValues, CustomStringConvertible {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Vectors")
    static let formatLine = "latchkey-audit-row-vector: 1"
    static let rowHeaders = ["seq", "time", "role", "uid", "gid", "pid", "session", "action", "connection", "project", "kind", "version",
                             "outcome", "reason", "request-id"]
    /// The headers of a v2 row only, by column.
    static let hostRowHeaders: [AuditColumn: String] = [.clientRequestID: "client-request-id", .host: "host"]
    static let goodHeaders = Set(["expect", "prev", "encoding", "hash", "source"] + rowHeaders)
    static let badHeaders = Set(["expect", "prev", "reason-contains", "source"] + rowHeaders)

    struct FormatError: Error, CustomStringConvertible { let description: String }

    let name: String
    let headers: [String: String]
    var description: String { name }

    static func names(_ prefix: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
            .filter { $0.hasPrefix(prefix) && $0.hasSuffix(".vec") }.map { String($0.dropLast(4)) }.sorted()
    }

    init(_ name: String) throws {
        self.name = name
        let text = try String(contentsOf: Self.directory.appendingPathComponent(name + ".vec"), encoding: .utf8)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.last == "" else { throw FormatError(description: "\(name): no final newline") }
        lines.removeLast()
        guard lines.first == Substring(Self.formatLine) else { throw FormatError(description: "\(name): first line is not '\(Self.formatLine)'") }
        var h: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":"), line[line.index(after: colon)...].hasPrefix(" ") else {
                throw FormatError(description: "\(name): header line without 'name: value'")
            }
            let key = String(line[..<colon])
            guard h[key] == nil else { throw FormatError(description: "\(name): header '\(key)' repeated") }
            h[key] = String(line[line.index(colon, offsetBy: 2)...])
        }
        let good = name.hasPrefix("good-")
        guard good || name.hasPrefix("bad-") else { throw FormatError(description: "\(name): not good-/bad-") }
        guard h["expect"] == (good ? "ok" : "error malformed") else { throw FormatError(description: "\(name): expect does not fit the name") }
        let expected = (good ? Self.goodHeaders : Self.badHeaders).union(h["host"] == nil ? [] : Set(Self.hostRowHeaders.values))
        guard Set(h.keys) == expected else {
            throw FormatError(description: "\(name): headers \(Set(h.keys).symmetricDifference(expected)) unknown or missing")
        }
        headers = h
    }

    func value(_ c: AuditColumn) -> String? {
        if let header = Self.hostRowHeaders[c] { return headers[header].flatMap { $0 == "~" ? nil : $0 } }
        guard Int(c.rawValue) < Self.rowHeaders.count else { return nil }
        let v = headers[Self.rowHeaders[Int(c.rawValue)]]!
        return v == "~" ? nil : v
    }

    var seq: Int64 { Int64(headers["seq"]!)! }
    func text<R>(_ column: AuditColumn, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
        guard var s = value(column) else { return body(nil) }
        return s.withUTF8 { body(UnsafeRawBufferPointer($0)) }
    }
    func integer(_ column: AuditColumn) -> Int64? { value(column).map { Int64($0)! } }
    func isWellTyped(_ column: AuditColumn, integer: Bool) -> Bool { true }
    var prev: [UInt8] { Hex.decode(headers["prev"]!)! }
}

@Suite struct RowVectorTests {
    /// The encoder spells the outcomes out and checks ASCII a word at a time: both must
    /// agree with the definitions they stand for.
    @Test func theEncodersByteChecksAgreeWithWhatTheyStandFor() {
        func bytes(_ s: String, _ body: (UnsafeRawBufferPointer) -> Bool) -> Bool { Array(s.utf8).withUnsafeBytes(body) }
        for outcome in AuditEntry.Outcome.allCases { #expect(bytes(outcome.rawValue, AuditRowEncoder.isOutcome)) }
        for other in ["grante", "grantedx", "Granted", "deniee", "", "failed "] { #expect(!bytes(other, AuditRowEncoder.isOutcome), "\(other)") }
        for length in 0..<40 {
            let ascii = String(repeating: "a", count: length)
            #expect(bytes(ascii, AuditRowEncoder.isASCII))
            for at in 0..<length {
                var b = Array(ascii.utf8)
                b[at] = 0x80
                #expect(!b.withUnsafeBytes(AuditRowEncoder.isASCII), "a high byte at \(at) of \(length)")
                #expect(!b.withUnsafeBytes(AuditRowEncoder.isValidUTF8), "a lone continuation byte at \(at) of \(length)")
            }
        }
        #expect(bytes("héllo wörld, ünïcode", AuditRowEncoder.isValidUTF8))
        #expect(bytes("2026-12-05T01:02:03.456789Z", AuditRowEncoder.isStoredTime))
        for bad in ["2026-12-05 01:02:03.456789Z", "2026-12-05T01:02:03.456789z", "2026-12-05T01:02:03,456789Z", "2026-1a-05T01:02:03.456789Z"] {
            #expect(!bytes(bad, AuditRowEncoder.isStoredTime), "\(bad)")
        }
        // Every byte value at every position, against the form read character by character.
        let good = Array("2026-12-05T01:02:03.456789Z".utf8)
        let form = Array("0000-00-00T00:00:00.000000Z".utf8)
        var disagreements = 0
        for at in 0..<good.count {
            for byte in UInt8.min...UInt8.max {
                var t = good
                t[at] = byte
                let expected = form[at] == UInt8(ascii: "0") ? (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) : byte == form[at]
                if t.withUnsafeBytes(AuditRowEncoder.isStoredTime) != expected { disagreements += 1 }
            }
        }
        #expect(disagreements == 0)
        #expect(!bytes("2026-12-05T01:02:03.45678Z", AuditRowEncoder.isStoredTime) && !bytes("2026-12-05T01:02:03.4567890Z", AuditRowEncoder.isStoredTime))
    }

    @Test func theVectorDirectoryHoldsOnlyNamedVectors() throws {
        for file in try FileManager.default.contentsOfDirectory(atPath: RowVector.directory.path) where file != "make-vectors.py" {
            #expect((file.hasPrefix("good-") || file.hasPrefix("bad-")) && file.hasSuffix(".vec"), "unexpected file \(file)")
        }
        #expect(RowVector.names("good-").count >= 6 && RowVector.names("bad-").count >= 8)
        #expect(try RowVector.names("good-").filter { try RowVector($0).headers["host"] != nil }.count >= 2, "v2 rows have vectors")
    }

    @Test(arguments: RowVector.names("good-"))
    func goodRowsEncodeAndHashExactly(_ name: String) throws {
        let v = try RowVector(name)
        let buffer = AuditRowBuffer()
        try AuditRowEncoder.encode(v, after: [], into: buffer)
        #expect(Hex.encode(buffer.bytes) == v.headers["encoding"], "\(name): encoding")
        #expect(Hex.encode(try AuditRowEncoder.hash(v, after: v.prev, scratch: buffer)) == v.headers["hash"], "\(name): hash")
        // The writer's path (a decoded entry) gives the same bytes whenever the row fits one.
        if let uid = v.integer(.uid).map({ UInt32(exactly: $0) }), let gid = v.integer(.gid).map({ UInt32(exactly: $0) }),
            let pid = v.integer(.pid).map({ Int32(exactly: $0) }), let time = Timestamp(parsing: v.value(.time)!),
            let outcome = AuditEntry.Outcome(rawValue: v.value(.outcome)!)
        {
            let entry = AuditEntry(
                actor: .init(role: v.value(.role)!, uid: uid, gid: gid, pid: pid, sessionID: v.value(.session)), action: v.value(.action)!,
                target: .init(connection: v.value(.connection), project: v.value(.project), kind: v.value(.kind), version: v.integer(.version)),
                outcome: outcome, reason: v.value(.reason), requestID: v.value(.requestID), clientRequestID: v.value(.clientRequestID),
                host: v.value(.host))
            #expect(Hex.encode(try AuditEncoding.row(seq: v.seq, time: time, entry: entry)) == v.headers["encoding"], "\(name): entry path")
        }
    }

    @Test(arguments: RowVector.names("bad-"))
    func badRowsAreRefusedNamingWhatIsWrong(_ name: String) throws {
        let v = try RowVector(name)
        let error = try #require(throws: AuditRowError.self) { try AuditRowEncoder.encode(v, after: v.prev, into: AuditRowBuffer()) }
        #expect(error.reason.contains(v.headers["reason-contains"]!), "\(name): \(error)")
    }
}
