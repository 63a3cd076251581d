/// Durations as people write them in policies and on the command line: a whole number
/// and a unit, hours, minutes and seconds, largest first, each at most once —
/// `90s`, `10m`, `1h`, `1h30m`, `2h0m5s`. No spaces, signs, fractions or other units,
/// so a duration always means one thing (`1.5h`, `10 m`, `5` and `1d` are refused with
/// a message that shows the accepted form). Zero (`0s`) parses; callers that need a
/// positive duration say so themselves (a policy's `max_ttl` must be above 0s).
///
/// The CLI uses the same parser for `--ttl 10m` and `--grace 1h`, so a duration means
/// the same in a policy file and on the command line.
package enum PolicyDuration {
    /// The longest duration accepted: 8760h (a year), far above any session or grace
    /// period and far below overflow.
    package static let maximum: Duration = .seconds(8760 * 3600)

    /// `10m`, `1h30m`, ... as a `Duration`, or nil if the text is not one.
    package static func parse(_ text: String) -> Duration? {
        try? parse(explaining: text)
    }

    /// Like `parse(_:)`, but a refusal says why (`invalid duration '1.5h': ...`), for
    /// messages to the person who wrote it.
    package static func parse(explaining text: String) throws(DurationSyntaxError) -> Duration {
        func fail(_ reason: String) -> DurationSyntaxError { DurationSyntaxError(text: text, reason: reason) }
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else { throw fail("empty; write e.g. 90s, 10m or 1h30m") }
        guard bytes.count <= 32 else { throw fail("too long; write e.g. 90s, 10m or 1h30m") }
        guard bytes[0] != UInt8(ascii: "-") else { throw fail("a duration cannot be negative") }
        let units: [(unit: UInt8, seconds: Int64)] = [(UInt8(ascii: "h"), 3600), (UInt8(ascii: "m"), 60), (UInt8(ascii: "s"), 1)]
        var nextUnit = 0  // index into `units`: units must appear in this order
        var total: Int64 = 0
        var index = 0
        while index < bytes.count {
            var number: Int64 = 0
            var digits = 0
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
                number = number * 10 + Int64(bytes[index] - UInt8(ascii: "0"))
                digits += 1
                index += 1
                guard digits <= 9 else { throw fail("number too large; durations go up to 8760h") }
            }
            guard digits > 0 else {
                throw fail("expected a number at position \(index + 1); write e.g. 90s, 10m or 1h30m")
            }
            guard index < bytes.count else {
                throw fail("\(number) needs a unit: \(number)s, \(number)m or \(number)h")
            }
            let unit = bytes[index]
            guard let position = units.firstIndex(where: { $0.unit == unit }) else {
                throw fail("unknown unit \(quoted(String(decoding: [unit], as: UTF8.self))); use s, m or h (e.g. 90s, 10m, 1h30m)")
            }
            guard position >= nextUnit else {
                throw fail("write hours, minutes, seconds in that order, each once (e.g. 1h30m)")
            }
            nextUnit = position + 1
            total += number * units[position].seconds
            index += 1
        }
        let duration = Duration.seconds(total)
        guard duration <= maximum else { throw fail("longer than 8760h (a year)") }
        return duration
    }

    /// The duration in the form `parse` reads, to the whole second: `1h30m`, `45s`,
    /// `0s`. Used in messages (`max_ttl is 30m`) and CLI output.
    package static func format(_ duration: Duration) -> String {
        let seconds = duration.components.seconds
        guard seconds > 0 else { return "0s" }
        let (h, m, s) = (seconds / 3600, seconds % 3600 / 60, seconds % 60)
        return (h > 0 ? "\(h)h" : "") + (m > 0 ? "\(m)m" : "") + (s > 0 ? "\(s)s" : "")
    }
}

/// A duration that does not parse: the text (quoted and escaped in `description`) and why.
package struct DurationSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    package let text: String
    package let reason: String

    package var description: String { "invalid duration \(quoted(text)): \(reason)" }
}
