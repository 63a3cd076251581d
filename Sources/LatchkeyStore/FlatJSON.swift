/// A strict parser for flat JSON objects (audit export lines, stored attributes): string keys, values
/// that are strings, integers or null. Duplicate keys, nesting, floats, booleans,
/// invalid UTF-8, trailing bytes and numbers beyond Int64 are refused. Hostile input
/// cannot trap it: every read is bounds-checked.
package enum FlatJSON {
    package enum Value: Equatable {
        case string(String)
        case integer(Int64)
        case null
    }

    package struct Failure: Error {
        package var reason: String
    }

    package static func parse(_ bytes: ArraySlice<UInt8>) throws(Failure) -> [String: Value] {
        var p = Parser(b: Array(bytes))
        p.skipSpace()
        try p.expect(UInt8(ascii: "{"))
        var out: [String: Value] = [:]
        p.skipSpace()
        if p.peek == UInt8(ascii: "}") {
            p.i += 1
        } else {
            while true {
                p.skipSpace()
                let key = try p.string()
                guard out[key] == nil else { throw Failure(reason: "duplicate field '\(key)'") }
                p.skipSpace()
                try p.expect(UInt8(ascii: ":"))
                p.skipSpace()
                out[key] = try p.value()
                p.skipSpace()
                if p.peek == UInt8(ascii: ",") { p.i += 1; continue }
                try p.expect(UInt8(ascii: "}"))
                break
            }
        }
        p.skipSpace()
        guard p.i == p.b.count else { throw Failure(reason: "unexpected bytes after the object") }
        return out
    }

    struct Parser {
        let b: [UInt8]
        var i = 0

        var peek: UInt8? { i < b.count ? b[i] : nil }

        mutating func skipSpace() {
            while let c = peek, c == 32 || c == 9 || c == 13 || c == 10 { i += 1 }
        }

        mutating func expect(_ c: UInt8) throws(Failure) {
            guard peek == c else { throw Failure(reason: "expected '\(Character(Unicode.Scalar(c)))' at byte \(i + 1)") }
            i += 1
        }

        mutating func value() throws(Failure) -> Value {
            switch peek {
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "n"):
                guard i + 4 <= b.count, b[i..<(i + 4)].elementsEqual("null".utf8) else { throw Failure(reason: "bad literal at byte \(i + 1)") }
                i += 4
                return .null
            case let c? where c == UInt8(ascii: "-") || (c >= 48 && c <= 57): return .integer(try integer())
            default: throw Failure(reason: "expected a string, integer or null at byte \(i + 1)")
            }
        }

        mutating func integer() throws(Failure) -> Int64 {
            var negative = false
            if peek == UInt8(ascii: "-") { negative = true; i += 1 }
            var v: Int64 = 0
            var digits = 0
            while let c = peek, c >= 48, c <= 57 {
                let (m, o1) = v.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(Int64(c - 48))
                guard !o1, !o2 else { throw Failure(reason: "number too large at byte \(i + 1)") }
                v = a
                digits += 1
                i += 1
            }
            guard digits > 0 else { throw Failure(reason: "bad number at byte \(i + 1)") }
            if let c = peek, c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
                throw Failure(reason: "only whole numbers are allowed (byte \(i + 1))")
            }
            return negative ? -v : v
        }

        mutating func string() throws(Failure) -> String {
            try expect(UInt8(ascii: "\""))
            var out: [UInt8] = []
            while true {
                guard let c = peek else { throw Failure(reason: "unterminated string") }
                i += 1
                switch c {
                case UInt8(ascii: "\""):
                    guard let s = String(validating: out, as: UTF8.self) else { throw Failure(reason: "invalid UTF-8 in a string") }
                    return s
                case UInt8(ascii: "\\"):
                    guard let e = peek else { throw Failure(reason: "unterminated escape") }
                    i += 1
                    switch e {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                    case UInt8(ascii: "n"): out.append(10)
                    case UInt8(ascii: "r"): out.append(13)
                    case UInt8(ascii: "t"): out.append(9)
                    case UInt8(ascii: "b"): out.append(8)
                    case UInt8(ascii: "f"): out.append(12)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if (0xD800...0xDBFF).contains(scalar) {
                            guard peek == UInt8(ascii: "\\"), i + 1 < b.count, b[i + 1] == UInt8(ascii: "u") else {
                                throw Failure(reason: "lone surrogate in a string")
                            }
                            i += 2
                            let low = try hex4()
                            guard (0xDC00...0xDFFF).contains(low) else { throw Failure(reason: "bad surrogate pair") }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        }
                        guard let u = Unicode.Scalar(scalar) else { throw Failure(reason: "bad \\u escape") }
                        out += Array(String(Character(u)).utf8)
                    default: throw Failure(reason: "bad escape at byte \(i)")
                    }
                case 0..<0x20: throw Failure(reason: "control character in a string")
                default: out.append(c)
                }
                guard out.count <= 4096 else { throw Failure(reason: "string too long") }
            }
        }

        mutating func hex4() throws(Failure) -> UInt32 {
            guard i + 4 <= b.count else { throw Failure(reason: "short \\u escape") }
            var v: UInt32 = 0
            for c in b[i..<(i + 4)] {
                let d: UInt32
                switch c {
                case 48...57: d = UInt32(c - 48)
                case 97...102: d = UInt32(c - 87)
                case 65...70: d = UInt32(c - 55)
                default: throw Failure(reason: "bad \\u escape")
                }
                v = v << 4 | d
            }
            i += 4
            return v
        }
    }
}
