package import LatchkeyStore
import LatchkeyCrypto

/// The one-line form of a checkpoint the daemon writes to its log and to a witness:
///
///     audit checkpoint v2 id=12 seq=3400 head=<hex> time=<time> prev=<hex> hash=<hex> sig=<hex>
///
/// Every value is hex, digits or a timestamp, so the line survives any log format that
/// carries the message (plain text, or a JSON string: nothing in it needs escaping).
/// `audit verify --log FILE` finds these lines anywhere in a line and checks each against
/// the store. Lines from before checkpoint chaining have no `v2`, `prev` or `hash`.
package enum CheckpointLine {
    static let marker = Array("audit checkpoint ".utf8)

    package static func format(_ cp: Checkpoint) -> String {
        var s = "audit checkpoint v2 id=\(cp.id) seq=\(cp.auditSeq) head=\(Hex.encode(cp.headHash)) time=\(cp.time)"
        if let prev = cp.prevHash { s += " prev=\(Hex.encode(prev)) hash=\(Hex.encode(AuditEncoding.checkpointHash(cp)))" }
        return s + " sig=\(Hex.encode(cp.signature))"
    }

    package struct Failure: Error, Sendable, CustomStringConvertible {
        package var line: Int
        package var reason: String
        package var description: String { "log line \(line): \(reason)" }
    }

    /// Every checkpoint line in `text` (a log or witness file), in order. A line that has
    /// the marker but not a checkpoint Latchkey writes is refused with its number.
    package static func parseAll(_ text: [UInt8], publicKey: [UInt8], source: String) throws(Failure) -> [ExpectedCheckpoint] {
        var out: [ExpectedCheckpoint] = []
        var lineNumber = 0
        var start = 0
        while start < text.count {
            var end = start
            while end < text.count, text[end] != 10 { end += 1 }
            lineNumber += 1
            defer { start = end + 1 }
            guard let at = find(marker, in: text[start..<end]) else { continue }
            guard let cp = parse(text[(at + marker.count)..<end], publicKey: publicKey) else {
                throw Failure(line: lineNumber, reason: "a checkpoint line that is not one Latchkey writes (fields missing or malformed)")
            }
            out.append(ExpectedCheckpoint(id: cp.id, auditSeq: cp.auditSeq, headHash: cp.headHash, full: cp, source: "\(source) line \(lineNumber)"))
        }
        return out
    }

    /// The fields after the marker: `v2`, then `key=value` tokens separated by spaces, up
    /// to the first character that cannot be in a value (a closing quote, say).
    static func parse(_ bytes: ArraySlice<UInt8>, publicKey: [UInt8]) -> Checkpoint? {
        var fields: [String: String] = [:]
        var chained = false
        for token in bytes.split(separator: 32) {
            let valueChars = token.prefix { isValueByte($0) }
            let word = String(decoding: valueChars, as: UTF8.self)
            if word == "v2" {
                chained = true
                continue
            }
            guard let eq = word.firstIndex(of: "=") else { break }
            let key = String(word[..<eq])
            guard fields[key] == nil else { return nil }
            fields[key] = String(word[word.index(after: eq)...])
            if valueChars.count != token.count { break }  // the message ended inside this token
        }
        guard let id = fields["id"].flatMap(Int64.init), let seq = fields["seq"].flatMap(Int64.init),
            let head = fields["head"].flatMap(Hex.decode), head.count == 32,
            let timeText = fields["time"], let time = Timestamp(parsing: timeText), time.description == timeText,
            let sig = fields["sig"].flatMap(Hex.decode), sig.count == 64
        else { return nil }
        var cp = Checkpoint(id: id, auditSeq: seq, headHash: head, time: time, publicKey: publicKey, signature: sig)
        if chained {
            guard let prev = fields["prev"].flatMap(Hex.decode), prev.count == 32 else { return nil }
            cp.prevHash = prev
            if let hash = fields["hash"] {
                guard Hex.decode(hash) == AuditEncoding.checkpointHash(cp) else { return nil }
            }
        }
        return cp
    }

    private static func isValueByte(_ b: UInt8) -> Bool {
        (b >= 48 && b <= 58) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 45 || b == 46 || b == 61
    }

    private static func find(_ needle: [UInt8], in hay: ArraySlice<UInt8>) -> Int? {
        guard hay.count >= needle.count else { return nil }
        var i = hay.startIndex
        while i <= hay.endIndex - needle.count {
            if hay[i] == needle[0], hay[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }
}
