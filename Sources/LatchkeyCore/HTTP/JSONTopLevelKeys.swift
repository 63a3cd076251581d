/// The keys of a JSON object body and which of them are `null`, read in one pass over
/// the bytes without building the values: `Request.checkFields` runs on every request
/// with a body, before the body is decoded for real.
///
/// It answers only when it is sure: a body that is not one plain object (anything
/// malformed, a key with an escape, a key twice, nesting deeper than `maxDepth`) gets nil,
/// and the caller takes the full parser, which names the problem. Values are skipped, not
/// validated (`{"a": nul}` passes here and fails in the decoder that follows).
enum JSONTopLevelKeys {
    static let maxDepth = 64

    static func scan(_ bytes: UnsafeRawBufferPointer) -> [(key: String, isNull: Bool)]? {
        var i = 0
        let n = bytes.count
        func skipSpace() { while i < n, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 } }
        /// Moves past a string whose opening quote is at i; false when it never closes.
        func skipString() -> Bool {
            i += 1
            while i < n {
                switch bytes[i] {
                case UInt8(ascii: "\""): i += 1; return true
                case UInt8(ascii: "\\"): i += 2
                case 0x00..<0x20: return false  // control characters are not allowed in strings
                default: i += 1
                }
            }
            return false
        }
        /// Moves past one value; nil when malformed, else whether it was `null`.
        func skipValue() -> Bool? {
            guard i < n else { return nil }
            switch bytes[i] {
            case UInt8(ascii: "\""):
                return skipString() ? false : nil
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                var depth = 0
                while i < n {
                    switch bytes[i] {
                    case UInt8(ascii: "\""):
                        guard skipString() else { return nil }
                        continue
                    case UInt8(ascii: "{"), UInt8(ascii: "["):
                        depth += 1
                        guard depth <= maxDepth else { return nil }
                    case UInt8(ascii: "}"), UInt8(ascii: "]"):
                        depth -= 1
                        if depth == 0 { i += 1; return false }
                    default: break
                    }
                    i += 1
                }
                return nil
            default:
                let start = i
                while i < n, !Self.endsBareValue(bytes[i]) { i += 1 }
                guard i > start else { return nil }
                return i - start == 4 && bytes[start] == UInt8(ascii: "n") && bytes[start + 1] == UInt8(ascii: "u")
                    && bytes[start + 2] == UInt8(ascii: "l") && bytes[start + 3] == UInt8(ascii: "l")
            }
        }

        var keys: [(key: String, isNull: Bool)] = []
        skipSpace()
        guard i < n, bytes[i] == UInt8(ascii: "{") else { return nil }
        i += 1
        skipSpace()
        if i < n, bytes[i] == UInt8(ascii: "}") {
            i += 1
        } else {
            while true {
                guard i < n, bytes[i] == UInt8(ascii: "\"") else { return nil }
                let keyStart = i + 1
                guard skipString() else { return nil }
                let keyBytes = UnsafeRawBufferPointer(rebasing: bytes[keyStart..<(i - 1)])
                guard !keyBytes.contains(UInt8(ascii: "\\")) else { return nil }
                guard let key = String(validating: keyBytes, as: UTF8.self) else { return nil }
                guard !keys.contains(where: { $0.key == key }) else { return nil }
                skipSpace()
                guard i < n, bytes[i] == UInt8(ascii: ":") else { return nil }
                i += 1
                skipSpace()
                guard let isNull = skipValue() else { return nil }
                keys.append((key, isNull))
                skipSpace()
                guard i < n else { return nil }
                if bytes[i] == UInt8(ascii: "}") { i += 1; break }
                guard bytes[i] == UInt8(ascii: ",") else { return nil }
                i += 1
                skipSpace()
            }
        }
        skipSpace()
        return i == n ? keys : nil
    }

    private static func endsBareValue(_ b: UInt8) -> Bool {
        b == UInt8(ascii: ",") || b == UInt8(ascii: "}") || b == UInt8(ascii: "]") || b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09
            || b == UInt8(ascii: "{") || b == UInt8(ascii: "[") || b == UInt8(ascii: "\"") || b == UInt8(ascii: ":")
    }
}
