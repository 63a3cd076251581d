/// Shell-style globs over project names: `*` (any run), `?` (one character),
/// `[abc]` / `[a-z]` / `[!a-z]` (a class). No `**`, no escapes. Matching is the
/// iterative two-pointer algorithm with one backtrack point: O(pattern × name) at
/// worst, so hostile patterns with many stars cannot blow up.
public struct Glob: Sendable, Hashable, CustomStringConvertible {
    enum Token: Sendable, Hashable {
        case literal(UInt8)
        case any
        case star
        case set([ClosedRange<UInt8>], negated: Bool)
    }

    public let pattern: String
    let tokens: [Token]

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    public static let maxLength = 256

    public init(_ pattern: String) throws(Invalid) {
        let b = Array(pattern.utf8)
        guard !b.isEmpty, b.count <= Self.maxLength else { throw Invalid(description: "a glob must be 1–\(Self.maxLength) characters") }
        var tokens: [Token] = []
        var i = 0
        while i < b.count {
            switch b[i] {
            case UInt8(ascii: "*"):
                guard i + 1 >= b.count || b[i + 1] != UInt8(ascii: "*") else { throw Invalid(description: "'**' is not supported; use '*'") }
                tokens.append(.star)
                i += 1
            case UInt8(ascii: "?"):
                tokens.append(.any)
                i += 1
            case UInt8(ascii: "["):
                var j = i + 1
                var negated = false
                if j < b.count, b[j] == UInt8(ascii: "!") { negated = true; j += 1 }
                var ranges: [ClosedRange<UInt8>] = []
                while j < b.count, b[j] != UInt8(ascii: "]") {
                    if j + 2 < b.count, b[j + 1] == UInt8(ascii: "-"), b[j + 2] != UInt8(ascii: "]") {
                        guard b[j] <= b[j + 2] else { throw Invalid(description: "range '\(Character(Unicode.Scalar(b[j])))-\(Character(Unicode.Scalar(b[j + 2])))' is backwards") }
                        ranges.append(b[j]...b[j + 2])
                        j += 3
                    } else {
                        ranges.append(b[j]...b[j])
                        j += 1
                    }
                }
                guard j < b.count, !ranges.isEmpty else { throw Invalid(description: "unclosed or empty '[...]' in '\(pattern)'") }
                tokens.append(.set(ranges, negated: negated))
                i = j + 1
            case UInt8(ascii: "]"):
                throw Invalid(description: "stray ']' in '\(pattern)'")
            default:
                tokens.append(.literal(b[i]))
                i += 1
            }
        }
        self.pattern = pattern
        self.tokens = tokens
    }

    public var description: String { pattern }

    /// True when the pattern has no wildcards (it names one project).
    public var isLiteral: Bool { tokens.allSatisfy { if case .literal = $0 { true } else { false } } }

    public func matches(_ name: String) -> Bool {
        let s = Array(name.utf8)
        var p = 0, i = 0
        var starP = -1, starI = 0
        while i < s.count {
            if p < tokens.count, Self.single(tokens[p], s[i]) {
                p += 1
                i += 1
            } else if p < tokens.count, tokens[p] == .star {
                starP = p
                starI = i
                p += 1
            } else if starP >= 0 {
                p = starP + 1
                starI += 1
                i = starI
            } else {
                return false
            }
        }
        while p < tokens.count, tokens[p] == .star { p += 1 }
        return p == tokens.count
    }

    static func single(_ t: Token, _ c: UInt8) -> Bool {
        switch t {
        case .literal(let l): l == c
        case .any: true
        case .star: false
        case .set(let ranges, let negated): ranges.contains { $0.contains(c) } != negated
        }
    }

    /// Whether some name could match both globs. Exact for literals; for two patterns
    /// it checks each against the other's literal text and prefix/suffix compatibility,
    /// which finds every overlap a policy author is likely to write.
    public func mayOverlap(_ other: Glob) -> Bool {
        if isLiteral { return other.matches(pattern) }
        if other.isLiteral { return matches(other.pattern) }
        if pattern == other.pattern { return true }
        // Literal prefixes and suffixes must agree for a common match to exist.
        let (p1, s1) = affixes
        let (p2, s2) = other.affixes
        let prefixesAgree = p1.starts(with: p2) || p2.starts(with: p1)
        let suffixesAgree = s1.reversed().starts(with: s2.reversed()) || s2.reversed().starts(with: s1.reversed())
        return prefixesAgree && suffixesAgree
    }

    private var affixes: ([UInt8], [UInt8]) {
        var prefix: [UInt8] = []
        for t in tokens { if case .literal(let c) = t { prefix.append(c) } else { break } }
        var suffix: [UInt8] = []
        for t in tokens.reversed() { if case .literal(let c) = t { suffix.insert(c, at: 0) } else { break } }
        return (prefix, suffix)
    }
}
