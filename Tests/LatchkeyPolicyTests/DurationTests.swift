import LatchkeyPolicy
import Testing

@Suite struct DurationTests {
    @Test(arguments: [
        ("90s", 90), ("10m", 600), ("1h", 3600), ("1h30m", 5400), ("2h0m5s", 7205),
        ("90m", 5400), ("0s", 0), ("1m1s", 61), ("8760h", 8760 * 3600), ("007s", 7),
    ] as [(String, Int64)])
    func parsesHoursMinutesSeconds(text: String, seconds: Int64) throws {
        #expect(try PolicyDuration.parse(explaining: text) == .seconds(seconds))
        #expect(PolicyDuration.parse(text) == .seconds(seconds))
    }

    @Test(arguments: [
        ("", "empty"),
        ("5", "needs a unit"),
        ("1h30", "needs a unit"),
        ("10x", "unknown unit"),
        ("1d", "unknown unit"),
        ("10M", "unknown unit"),
        ("1.5h", "unknown unit"),
        ("10 m", "unknown unit"),
        (" 10m", "expected a number"),
        ("-5m", "negative"),
        ("+5m", "expected a number"),
        ("30m1h", "order"),
        ("1h1h", "order"),
        ("h", "expected a number"),
        ("8761h", "longer than 8760h"),
        ("9999999999s", "too large"),
        (String(repeating: "1", count: 40) + "s", "too long"),
    ])
    func refusesAnythingElseAndSaysWhy(text: String, reason: String) {
        #expect(PolicyDuration.parse(text) == nil)
        #expect {
            _ = try PolicyDuration.parse(explaining: text)
        } throws: { error in
            guard let error = error as? DurationSyntaxError else { return false }
            return error.reason.contains(reason) && error.text == text && error.description.hasPrefix("invalid duration '")
        }
    }

    @Test(arguments: [(0, "0s"), (45, "45s"), (600, "10m"), (3600, "1h"), (5400, "1h30m"), (3661, "1h1m1s")] as [(Int64, String)])
    func formatRoundTripsThroughParse(seconds: Int64, text: String) throws {
        #expect(PolicyDuration.format(.seconds(seconds)) == text)
        #expect(PolicyDuration.parse(text) == .seconds(seconds))
    }
}
