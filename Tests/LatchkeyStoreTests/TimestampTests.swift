import LatchkeyStore
import Testing

/// The time format is part of the audit row's canonical encoding: these answers are fixed.
@Suite struct TimestampTests {
    static let knownAnswers: [(Int64, String)] = [
        (0, "1970-01-01T00:00:00.000000Z"),
        (1_795_000_000_123_456, "2026-11-18T11:06:40.123456Z"),
        (-1, "1969-12-31T23:59:59.999999Z"),
        (951_782_400_000_001, "2000-02-29T00:00:00.000001Z"),
        (253_402_300_799_999_999, "9999-12-31T23:59:59.999999Z"),
        (253_402_300_800_000_000, "10000-01-01T00:00:00.000000Z"),
    ]

    @Test(arguments: knownAnswers)
    func formatsAsRFC3339WithSixDigits(_ microseconds: Int64, _ text: String) {
        #expect(Timestamp(microseconds: microseconds).description == text)
    }

    @Test(arguments: knownAnswers.filter { $0.0 < 253_402_300_800_000_000 })
    func parsesWhatItFormats(_ microseconds: Int64, _ text: String) {
        #expect(Timestamp(parsing: text)?.microseconds == microseconds)
    }

    @Test func refusesWhatIsNotATime() {
        for bad in ["", "2026", "2026-13-01", "2026-11-18T25:00:00Z", "2026-11-18T11:06:40.1234567Z", "2026-11-18T11:06:40.Z", "２０２６-11-18"] {
            #expect(Timestamp(parsing: bad) == nil, "\(bad)")
        }
    }
}
