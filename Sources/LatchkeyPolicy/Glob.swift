/// A shell-style pattern over project names.
///
/// - `*` matches any run of characters, including none;
/// - `?` matches exactly one character;
/// - `[abc]`, `[a-z0-9]` match one character of the set, `[!a-z]` one character not in
///   it (a `-` first or last is literal);
/// - any other character matches itself, case-sensitively.
///
/// Project names are 1–64 of `A–Z a–z 0–9 . _ -` and have no `/`, so there is no `**`
/// (it is refused, as is `[^…]`, a character that cannot be in a name, and a set that
/// can match nothing). A name with a byte outside that alphabet matches no glob.
///
/// Matching runs the pattern as a small NFA over the name, one pass, keeping the set of
/// live pattern positions: time is O(name length × pattern length) whatever the
/// pattern, so `*a*a*a*…b` against a long name cannot backtrack exponentially.
package struct Glob: Sendable, Hashable, CustomStringConvertible {
    /// The pattern as written.
    package let pattern: String
    let tokens: [Token]

    enum Token: Sendable, Hashable {
        /// Any run of name characters.
        case star
        /// One character from the set.
        case one(ByteSet)
    }

    package init(_ pattern: String) throws(GlobSyntaxError) {
        self.pattern = pattern
        self.tokens = try Self.compile(pattern)
    }

    package var description: String { pattern }

    /// Whether `name` is matched by the whole pattern.
    package func matches(_ name: String) -> Bool {
        let count = tokens.count
        // live[k]: the pattern's first k tokens can match the name read so far.
        var live = PositionSet()
        live.insert(0)
        followStars(&live)
        for byte in name.utf8 {
            guard ByteSet.nameCharacters.contains(byte) else { return false }
            var next = PositionSet()
            for k in 0..<count where live.contains(k) {
                switch tokens[k] {
                case .star: next.insert(k)
                case .one(let set): if set.contains(byte) { next.insert(k + 1) }
                }
            }
            guard !next.isEmpty else { return false }
            followStars(&next)
            live = next
        }
        return live.contains(count)
    }

    /// A `*` may match nothing: wherever a star is live, so is the position after it.
    /// One forward pass suffices because these steps only go forward.
    private func followStars(_ live: inout PositionSet) {
        for k in tokens.indices where tokens[k] == .star && live.contains(k) { live.insert(k + 1) }
    }

    private static func compile(_ pattern: String) throws(GlobSyntaxError) -> [Token] {
        func fail(_ reason: String) -> GlobSyntaxError { GlobSyntaxError(pattern: pattern, reason: reason) }
        let bytes = Array(pattern.utf8)
        guard !bytes.isEmpty else { throw fail("empty; use \"*\" for every project") }
        guard bytes.count <= PolicyLimits.maxGlobBytes else {
            throw fail("longer than \(PolicyLimits.maxGlobBytes) bytes")
        }
        func character(at index: Int) throws(GlobSyntaxError) -> UInt8 {
            let byte = bytes[index]
            guard ByteSet.nameCharacters.contains(byte) else {
                let shown = byte < 128 ? quoted(String(decoding: [byte], as: UTF8.self)) : "a non-ASCII character"
                throw fail("\(shown) at position \(index + 1) cannot be in a project name (names use letters, digits, '.', '_' and '-'; the wildcards are * ? [...])")
            }
            return byte
        }
        var tokens: [Token] = []
        var index = 0
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "*"):
                if index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "*") {
                    throw fail("'**' is not supported: project names have no '/', so one '*' already matches any run of characters")
                }
                tokens.append(.star)
                index += 1
            case UInt8(ascii: "?"):
                tokens.append(.one(.nameCharacters))
                index += 1
            case UInt8(ascii: "["):
                let open = index
                index += 1
                var negated = false
                if index < bytes.count, bytes[index] == UInt8(ascii: "!") {
                    negated = true
                    index += 1
                } else if index < bytes.count, bytes[index] == UInt8(ascii: "^") {
                    throw fail("use [!...] to match a character not in a set ('^' at position \(index + 1))")
                }
                var set = ByteSet()
                var closed = false
                var first = true
                while index < bytes.count {
                    if bytes[index] == UInt8(ascii: "]") {
                        closed = true
                        index += 1
                        break
                    }
                    let low = try character(at: index)
                    let isRange = low != UInt8(ascii: "-") || !first
                    if isRange, index + 2 < bytes.count, bytes[index + 1] == UInt8(ascii: "-"), bytes[index + 2] != UInt8(ascii: "]") {
                        let high = try character(at: index + 2)
                        guard low <= high else {
                            throw fail("the range '\(String(decoding: [low, UInt8(ascii: "-"), high], as: UTF8.self))' at position \(index + 1) is backwards")
                        }
                        for byte in low...high where ByteSet.nameCharacters.contains(byte) { set.insert(byte) }
                        index += 3
                    } else {
                        set.insert(low)
                        index += 1
                    }
                    first = false
                }
                guard closed else { throw fail("the '[' at position \(open + 1) is never closed") }
                guard !first else { throw fail("the set '[]' at position \(open + 1) is empty") }
                let members = negated ? ByteSet.nameCharacters.subtracting(set) : set
                guard !members.isEmpty else {
                    throw fail("the set at position \(open + 1) matches no character of a project name")
                }
                tokens.append(.one(members))
            case UInt8(ascii: "]"):
                throw fail("']' at position \(index + 1) has no '['")
            default:
                tokens.append(.one(ByteSet([try character(at: index)])))
                index += 1
            }
        }
        return tokens
    }
}

/// Positions 0...191 of a pattern as three words on the stack, so matching allocates
/// nothing (a glob has at most `PolicyLimits.maxGlobBytes` + 1 = 129 positions).
private struct PositionSet {
    private var words: (UInt64, UInt64, UInt64) = (0, 0, 0)

    func contains(_ k: Int) -> Bool {
        switch k >> 6 {
        case 0: words.0 >> (k & 63) & 1 == 1
        case 1: words.1 >> (k & 63) & 1 == 1
        default: words.2 >> (k & 63) & 1 == 1
        }
    }

    mutating func insert(_ k: Int) {
        switch k >> 6 {
        case 0: words.0 |= 1 << (k & 63)
        case 1: words.1 |= 1 << (k & 63)
        default: words.2 |= 1 << (k & 63)
        }
    }

    var isEmpty: Bool { words.0 | words.1 | words.2 == 0 }
}

/// A glob that does not compile: the pattern (quoted and escaped in `description`) and why.
package struct GlobSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    package let pattern: String
    package let reason: String

    package var description: String { "invalid glob \(quoted(pattern)): \(reason)" }
}
