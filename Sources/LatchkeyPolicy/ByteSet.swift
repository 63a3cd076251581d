/// A set of ASCII bytes as two 64-bit masks: the character sets of glob tokens.
struct ByteSet: Sendable, Hashable {
    private var low: UInt64 = 0  // bytes 0...63
    private var high: UInt64 = 0  // bytes 64...127

    init() {}

    init(_ bytes: some Sequence<UInt8>) {
        for byte in bytes { insert(byte) }
    }

    func contains(_ byte: UInt8) -> Bool {
        if byte < 64 { return low >> byte & 1 == 1 }
        if byte < 128 { return high >> (byte - 64) & 1 == 1 }
        return false
    }

    mutating func insert(_ byte: UInt8) {
        if byte < 64 { low |= 1 << byte } else if byte < 128 { high |= 1 << (byte - 64) }
    }

    var isEmpty: Bool { low == 0 && high == 0 }

    func intersection(_ other: ByteSet) -> ByteSet {
        var result = ByteSet()
        result.low = low & other.low
        result.high = high & other.high
        return result
    }

    func subtracting(_ other: ByteSet) -> ByteSet {
        var result = ByteSet()
        result.low = low & ~other.low
        result.high = high & ~other.high
        return result
    }

    /// A member to show in an example name: a lowercase letter if there is one, then a
    /// digit, then anything; nil when empty.
    var example: UInt8? {
        let preferred: [ClosedRange<UInt8>] = [UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"), 0...127]
        for range in preferred {
            if let byte = range.first(where: contains) { return byte }
        }
        return nil
    }

    /// The characters of a project name: `A–Z a–z 0–9 . _ -` (the store's rule).
    static let nameCharacters = ByteSet(Array(UInt8(ascii: "A")...UInt8(ascii: "Z")) + Array(UInt8(ascii: "a")...UInt8(ascii: "z")) + Array(UInt8(ascii: "0")...UInt8(ascii: "9")) + [UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-")])
    /// The characters a project name may start with: letters and digits.
    static let nameStart = ByteSet(Array(UInt8(ascii: "A")...UInt8(ascii: "Z")) + Array(UInt8(ascii: "a")...UInt8(ascii: "z")) + Array(UInt8(ascii: "0")...UInt8(ascii: "9")))
}
