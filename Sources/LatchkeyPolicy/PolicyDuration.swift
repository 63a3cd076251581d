/// Durations as policy files and the CLI write them: one or more `<number><unit>`
/// with units `h`, `m`, `s` in that order (`90s`, `10m`, `1h30m`). At most 30 days.
public enum PolicyDuration {
    public static let maximum: Duration = .seconds(30 * 86_400)

    public static func parse(_ text: String) -> Duration? {
        let b = Array(text.utf8)
        guard !b.isEmpty, b.count <= 32 else { return nil }
        var total: Int64 = 0
        var number: Int64 = 0
        var digits = 0
        var lastUnit = 0  // h=3, m=2, s=1: units must come in descending order, once each
        for c in b {
            if c >= 48 && c <= 57 {
                number = number * 10 + Int64(c - 48)
                digits += 1
                guard digits <= 9 else { return nil }
                continue
            }
            let (rank, scale): (Int, Int64)
            switch c {
            case UInt8(ascii: "h"): (rank, scale) = (3, 3600)
            case UInt8(ascii: "m"): (rank, scale) = (2, 60)
            case UInt8(ascii: "s"): (rank, scale) = (1, 1)
            default: return nil
            }
            guard digits > 0, lastUnit == 0 || rank < lastUnit else { return nil }
            total += number * scale
            number = 0
            digits = 0
            lastUnit = rank
        }
        guard digits == 0, lastUnit != 0, total <= maximum.components.seconds else { return nil }
        return .seconds(total)
    }

    /// `1h30m`, `10m`, `45s`.
    public static func format(_ d: Duration) -> String {
        var s = d.components.seconds
        var out = ""
        if s >= 3600 { out += "\(s / 3600)h"; s %= 3600 }
        if s >= 60 { out += "\(s / 60)m"; s %= 60 }
        if s > 0 || out.isEmpty { out += "\(s)s" }
        return out
    }
}
