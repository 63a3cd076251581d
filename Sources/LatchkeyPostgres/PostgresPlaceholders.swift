/// The store's SQL uses `?` placeholders on both engines; PostgreSQL numbers them. This
/// rewrites each `?` to `$1, $2, …` in order, leaving alone what is inside single-quoted
/// literals (`''` escapes; `E'…'` also `\'`), double-quoted identifiers, dollar-quoted
/// bodies (`$tag$…$tag$`), `--` line comments and `/* */` comments (nested, as PostgreSQL).
enum PostgresPlaceholders {
    /// The statement with numbered placeholders, and how many there were.
    static func rewrite(_ sql: String) -> (sql: String, count: Int) {
        let s = Array(sql.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(s.count + 8)
        var count = 0
        var i = 0
        func at(_ k: Int) -> UInt8? { k < s.count ? s[k] : nil }
        while i < s.count {
            let c = s[i]
            switch c {
            case UInt8(ascii: "?"):
                count += 1
                out.append(contentsOf: Array("$\(count)".utf8))
                i += 1
            case UInt8(ascii: "'"):
                // E'…' strings take backslash escapes.
                let escapes = i > 0 && (s[i - 1] == UInt8(ascii: "E") || s[i - 1] == UInt8(ascii: "e"))
                    && (i < 2 || !isIdentifierByte(s[i - 2]))
                let end = endOfQuoted(s, from: i, quote: UInt8(ascii: "'"), backslash: escapes)
                out.append(contentsOf: s[i..<end])
                i = end
            case UInt8(ascii: "\""):
                let end = endOfQuoted(s, from: i, quote: UInt8(ascii: "\""), backslash: false)
                out.append(contentsOf: s[i..<end])
                i = end
            case UInt8(ascii: "-") where at(i + 1) == UInt8(ascii: "-"):
                var end = i
                while end < s.count, s[end] != UInt8(ascii: "\n") { end += 1 }
                out.append(contentsOf: s[i..<end])
                i = end
            case UInt8(ascii: "/") where at(i + 1) == UInt8(ascii: "*"):
                var depth = 0
                var end = i
                repeat {
                    if at(end) == UInt8(ascii: "/"), at(end + 1) == UInt8(ascii: "*") {
                        depth += 1
                        end += 2
                    } else if at(end) == UInt8(ascii: "*"), at(end + 1) == UInt8(ascii: "/") {
                        depth -= 1
                        end += 2
                    } else {
                        end += 1
                    }
                } while depth > 0 && end < s.count
                end = min(end, s.count)
                out.append(contentsOf: s[i..<end])
                i = end
            case UInt8(ascii: "$") where !(i > 0 && isIdentifierByte(s[i - 1])):
                // $tag$ … $tag$ (tag: empty or an identifier); `$1` is a parameter, kept.
                var j = i + 1
                while j < s.count, isIdentifierByte(s[j]), !(j == i + 1 && isDigit(s[j])) { j += 1 }
                if j < s.count, s[j] == UInt8(ascii: "$") {
                    let tag = Array(s[i...j])
                    var end = j + 1
                    while end < s.count, !(s[end...].starts(with: tag)) { end += 1 }
                    end = min(end + tag.count, s.count)
                    out.append(contentsOf: s[i..<end])
                    i = end
                } else {
                    out.append(c)
                    i += 1
                }
            default:
                out.append(c)
                i += 1
            }
        }
        return (String(decoding: out, as: UTF8.self), count)
    }

    /// Index just past the closing quote (a doubled quote is an escaped one), or the end.
    private static func endOfQuoted(_ s: [UInt8], from start: Int, quote: UInt8, backslash: Bool) -> Int {
        var i = start + 1
        while i < s.count {
            if backslash && s[i] == UInt8(ascii: "\\") {
                i += 2
                continue
            }
            if s[i] == quote {
                if i + 1 < s.count && s[i + 1] == quote {
                    i += 2
                    continue
                }
                return i + 1
            }
            i += 1
        }
        return s.count
    }

    private static func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

    private static func isIdentifierByte(_ b: UInt8) -> Bool {
        isDigit(b) || (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
            || b == UInt8(ascii: "_") || b >= 0x80
    }
}
