import Foundation

/// Replaces every released secret in a byte stream with `[MASKED]`, also when a
/// secret is split across reads, and in the encodings a build's tools print secrets in:
///
/// - as written, or URL-encoded (`%2f` and `%2F`, any mix, any byte encoded or not), or
///   JSON-escaped (`\/` or `/`, `\"`, `\n`, `\u00XX` in either case), byte by byte;
/// - base64 and base64url at each of the three alignments inside a longer stream (e.g.
///   an `Authorization: Basic` header), and wrapped at any width (`base64` wraps at 76
///   columns, PEM at 64 or 70: a line break may fall between any two characters);
/// - hex in either case, wrapped at any width (`xxd -p`);
/// - for a multi-line secret such as a PEM key, every line on its own in each of the
///   forms above, and the key's base64 body joined (re-wrapped at any width) and decoded
///   (raw and as hex).
///
/// What no masker can catch: any transformation it does not know — a secret reversed,
/// compressed, encrypted, split into pieces with text between them, printed a few bytes
/// at a time, or encoded twice — and a secret shorter than the minimum lengths below.
/// A build that wants to leak what it was given can; the masker stops accidents.
public struct SecretMasker {
    public static let mask = Array("[MASKED]".utf8)
    /// Lines of a multi-line secret shorter than this are not masked on their own
    /// (they would match ordinary text, e.g. "-----").
    static let minimumLineLength = 12
    /// Needles shorter than this are not masked (too likely in ordinary text).
    static let minimumNeedleLength = 6

    /// One thing to find, and how its bytes may appear in the stream.
    struct Needle: Hashable {
        enum Form: Hashable {
            /// Each byte as itself, URL-encoded or JSON-escaped.
            case escaped
            /// Encoded text (base64): exact characters; line breaks may fall between them.
            case wrapped
            /// Hex digits in either case; line breaks may fall between them.
            case hex
        }
        var bytes: [UInt8]
        var form: Form
    }

    private var needles: [Needle] = []
    /// Indices into `needles` by every byte a match may begin with, longest needle first.
    private var byFirstByte: [[Int]] = Array(repeating: [], count: 256)
    private var carry: [UInt8] = []

    public init(secrets: [[UInt8]]) {
        var all = Set<Needle>()
        for secret in secrets where !secret.isEmpty {
            Self.addForms(of: secret, to: &all)
            let lines = secret.split(whereSeparator: { $0 == 10 || $0 == 13 }).map(Array.init)
            guard lines.count > 1 else { continue }
            for line in lines where line.count >= Self.minimumLineLength { Self.addForms(of: line, to: &all) }
            // A PEM body: its base64 joined (so re-wrapped at any width), and decoded.
            let body = lines.filter { !$0.starts(with: Array("-----".utf8)) }.joined()
            let joined = Array(body)
            if joined.count >= Self.minimumNeedleLength, joined.allSatisfy(Self.isBase64Character) {
                all.insert(Needle(bytes: joined, form: .wrapped))
                if let decoded = Data(base64Encoded: Data(joined)), decoded.count >= Self.minimumNeedleLength {
                    Self.addForms(of: Array(decoded), to: &all)
                }
            }
        }
        needles = all.filter { $0.bytes.count >= Self.minimumNeedleLength }.sorted { $0.bytes.count > $1.bytes.count }
        for (index, needle) in needles.enumerated() {
            var starts = Set<UInt8>()
            let first = needle.bytes[0]
            switch needle.form {
            case .wrapped: starts.insert(first)
            case .hex: starts.formUnion([Self.lower(first), Self.upper(first)])
            case .escaped: starts.formUnion([first, UInt8(ascii: "%"), UInt8(ascii: "\\")])
            }
            for b in starts { byFirstByte[Int(b)].append(index) }
        }
    }

    /// The forms a secret (or one line of it) may appear in.
    static func addForms(of s: [UInt8], to all: inout Set<Needle>) {
        all.insert(Needle(bytes: s, form: .escaped))
        for form in base64Forms(s) { all.insert(Needle(bytes: form, form: .wrapped)) }
        all.insert(Needle(bytes: Array(s.map { String(format: "%02x", $0) }.joined().utf8), form: .hex))
    }

    /// Base64 of `s` as it appears inside a longer encoded stream at each of the three
    /// alignments: only the characters fully determined by `s` itself; plus base64url.
    static func base64Forms(_ s: [UInt8]) -> [[UInt8]] {
        var out: [[UInt8]] = []
        for offset in 0..<3 {
            let padded = [UInt8](repeating: 0, count: offset) + s
            let encoded = Array(Data(padded).base64EncodedString().utf8)
            let skip = (offset * 8 + 5) / 6
            let determined = (padded.count * 8) / 6
            guard determined > skip else { continue }
            let core = Array(encoded[skip..<determined])
            out.append(core)
            out.append(core.map { $0 == 43 ? 45 : $0 == 47 ? 95 : $0 })  // base64url
        }
        // The whole padded encoding as well (a secret encoded on its own).
        out.append(Array(Data(s).base64EncodedString().utf8))
        return out
    }

    /// Feeds a chunk; returns what can be written now. Bytes that could begin a secret
    /// are held back until the next chunk or `finish`.
    public mutating func process(_ chunk: some Collection<UInt8>) -> [UInt8] {
        carry += chunk
        return drain(final: false)
    }

    /// Flushes what is held back (end of stream).
    public mutating func finish() -> [UInt8] {
        drain(final: true)
    }

    private mutating func drain(final: Bool) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(carry.count)
        var i = 0
        let n = carry.count
        scan: while i < n {
            let b = carry[i]
            let candidates = byFirstByte[Int(b)]
            if !candidates.isEmpty {
                // Longest first: a shorter needle found here (a line of a key) does not
                // win over a longer one still matching at the end of what has arrived.
                var partial = false
                for index in candidates {
                    switch Self.match(needles[index], in: carry, at: i) {
                    case .found(let end):
                        if partial && !final { break }
                        out += Self.mask
                        i = end
                        continue scan
                    case .needsMore: partial = true
                    case .none: break
                    }
                    if partial && !final { break }
                }
                if partial && !final {
                    // Hold back from here: a secret may continue in the next chunk.
                    carry.removeFirst(i)
                    return out
                }
            }
            out.append(b)
            i += 1
        }
        carry.removeAll(keepingCapacity: true)
        return out
    }

    enum Match: Equatable {
        case found(end: Int)
        /// The stream ended while the needle still matched.
        case needsMore
        case none
    }

    /// Whether `needle` begins at `start` of `s`, and where its match ends.
    static func match(_ needle: Needle, in s: [UInt8], at start: Int) -> Match {
        var i = start
        let n = s.count
        for (k, want) in needle.bytes.enumerated() {
            if k > 0, needle.form != .escaped {
                while i < n, s[i] == 10 || s[i] == 13 { i += 1 }  // a line break between two characters
            }
            guard i < n else { return .needsMore }
            switch needle.form {
            case .wrapped:
                guard s[i] == want else { return .none }
                i += 1
            case .hex:
                guard lower(s[i]) == want else { return .none }
                i += 1
            case .escaped:
                switch escapedByte(want, in: s, at: i) {
                case .found(let end): i = end
                case .needsMore: return .needsMore
                case .none: return .none
                }
            }
        }
        return .found(end: i)
    }

    /// One byte of a secret at `i`: as itself (a line feed also as CR LF), `%XX` in either
    /// case, or a JSON escape (`\"`, `\\`, `\/`, `\n`, `\r`, `\t`, `\b`, `\f`, `\u00XX`).
    static func escapedByte(_ want: UInt8, in s: [UInt8], at i: Int) -> Match {
        let n = s.count
        let b = s[i]
        // A backslash of the secret is `\\` in JSON: prefer the escape when it is there.
        if want == UInt8(ascii: "\\"), b == want, i + 1 < n, s[i + 1] == want { return .found(end: i + 2) }
        if b == want { return .found(end: i + 1) }
        if want == 10, b == 13 {
            guard i + 1 < n else { return .needsMore }
            return s[i + 1] == 10 ? .found(end: i + 2) : .none
        }
        if b == UInt8(ascii: "%") {
            guard i + 2 < n else { return hexPrefixMatches(want, s[(i + 1)...]) ? .needsMore : .none }
            return hexValue(s[i + 1], s[i + 2]) == want ? .found(end: i + 3) : .none
        }
        if b == UInt8(ascii: "\\") {
            guard i + 1 < n else { return .needsMore }
            let e = s[i + 1]
            let short: UInt8? = switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): e
            case UInt8(ascii: "n"): 10
            case UInt8(ascii: "r"): 13
            case UInt8(ascii: "t"): 9
            case UInt8(ascii: "b"): 8
            case UInt8(ascii: "f"): 12
            default: nil
            }
            if let short { return short == want ? .found(end: i + 2) : .none }
            guard e == UInt8(ascii: "u"), want < 0x80 else { return .none }
            let expected = Array(String(format: "00%02x", want).utf8)
            for k in 0..<4 {
                guard i + 2 + k < n else { return .needsMore }
                guard lower(s[i + 2 + k]) == expected[k] else { return .none }
            }
            return .found(end: i + 6)
        }
        return .none
    }

    private static func hexPrefixMatches(_ want: UInt8, _ rest: ArraySlice<UInt8>) -> Bool {
        let expected = Array(String(format: "%02x", want).utf8)
        return zip(rest, expected).allSatisfy { lower($0) == $1 }
    }

    private static func hexValue(_ hi: UInt8, _ lo: UInt8) -> UInt8? {
        guard let h = nibble(hi), let l = nibble(lo) else { return nil }
        return h << 4 | l
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: c - 48
        case 65...70: c - 55
        case 97...102: c - 87
        default: nil
        }
    }

    private static func lower(_ c: UInt8) -> UInt8 { (65...90).contains(c) ? c + 32 : c }
    private static func upper(_ c: UInt8) -> UInt8 { (97...122).contains(c) ? c - 32 : c }

    private static func isBase64Character(_ c: UInt8) -> Bool {
        (65...90).contains(c) || (97...122).contains(c) || (48...57).contains(c) || c == 43 || c == 47 || c == 61
    }
}
