import Foundation

/// Replaces every released secret in a byte stream with `[MASKED]`, also when a
/// secret is split across reads, also in its common encodings (base64 at any
/// alignment, base64url, URL-encoded, JSON-escaped), and line by line for multi-line
/// secrets such as a PEM key. Exact-match masking alone is how other CI runners leak.
public struct SecretMasker {
    public static let mask = Array("[MASKED]".utf8)
    /// Lines of a multi-line secret shorter than this are not masked on their own
    /// (they would match ordinary text, e.g. "-----").
    static let minimumLineLength = 12
    /// Encoded forms shorter than this are not masked (too likely in ordinary text).
    static let minimumNeedleLength = 6

    private var needles: [[UInt8]] = []
    private var firstBytes = Set<UInt8>()
    private var longest = 0
    private var carry: [UInt8] = []

    public init(secrets: [[UInt8]]) {
        var all = Set<[UInt8]>()
        for secret in secrets where !secret.isEmpty {
            for form in Self.forms(of: secret) where form.count >= Self.minimumNeedleLength { all.insert(form) }
            let lines = secret.split(whereSeparator: { $0 == 10 || $0 == 13 }).map(Array.init)
            if lines.count > 1 {
                for line in lines where line.count >= Self.minimumLineLength {
                    for form in Self.forms(of: line) where form.count >= Self.minimumNeedleLength { all.insert(form) }
                }
            }
        }
        // Longest first, so a whole secret wins over one of its lines.
        needles = all.sorted { $0.count > $1.count }
        firstBytes = Set(needles.compactMap(\.first))
        longest = needles.first?.count ?? 0
    }

    /// The encodings a secret may appear in.
    static func forms(of s: [UInt8]) -> [[UInt8]] {
        var out: [[UInt8]] = [s]
        out += base64Forms(s)
        out.append(Array(percentEncoded(s).utf8))
        out.append(jsonEscaped(s))
        return out
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

    static func percentEncoded(_ s: [UInt8]) -> String {
        var out = ""
        for b in s {
            if (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 45 || b == 46 || b == 95 || b == 126 {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                out += String(format: "%%%02X", b)
            }
        }
        return out
    }

    static func jsonEscaped(_ s: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        for b in s {
            switch b {
            case 34: out += Array("\\\"".utf8)
            case 92: out += Array("\\\\".utf8)
            case 10: out += Array("\\n".utf8)
            case 13: out += Array("\\r".utf8)
            case 9: out += Array("\\t".utf8)
            case 47: out += [47]
            case 0..<0x20: out += Array(String(format: "\\u%04x", b).utf8)
            default: out.append(b)
            }
        }
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
            if firstBytes.contains(b) {
                var partial = false
                for needle in needles {
                    let avail = n - i
                    if avail >= needle.count {
                        if carry[i..<(i + needle.count)].elementsEqual(needle) {
                            out += Self.mask
                            i += needle.count
                            continue scan
                        }
                    } else if !final && carry[i..<n].elementsEqual(needle[0..<avail]) {
                        partial = true
                    }
                }
                if partial {
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
}
