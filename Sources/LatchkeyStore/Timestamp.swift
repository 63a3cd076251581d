package import Foundation

/// Times in the store and the audit log: UTC, RFC 3339 with exactly six fractional
/// digits (`2026-11-22T22:36:19.123456Z`). This format is part of the audit row's
/// canonical encoding and must never change.
package struct Timestamp: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// Microseconds since the Unix epoch.
    package var microseconds: Int64

    package init(microseconds: Int64) { self.microseconds = microseconds }

    package static func now() -> Timestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timestamp(microseconds: Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000)
    }

    package init(date: Date) { microseconds = Int64((date.timeIntervalSince1970 * 1_000_000).rounded()) }
    package var date: Date { Date(timeIntervalSince1970: Double(microseconds) / 1_000_000) }

    package static func < (a: Timestamp, b: Timestamp) -> Bool { a.microseconds < b.microseconds }

    package func adding(seconds: Int64) -> Timestamp { Timestamp(microseconds: microseconds + seconds * 1_000_000) }

    package var description: String {
        var secs = time_t(microseconds >= 0 ? microseconds / 1_000_000 : (microseconds - 999_999) / 1_000_000)
        let micros = Int(microseconds - Int64(secs) * 1_000_000)
        var t = tm()
        gmtime_r(&secs, &t)
        let year = Int(t.tm_year) + 1900
        guard (0...9999).contains(year) else { return Self.wideYear(year, t, micros) }
        // Written in place: the audit writer formats a time or two per row.
        return String(unsafeUninitializedCapacity: 27) { out in
            func put(_ v: Int, _ width: Int, at i: Int) {
                var v = v
                for k in stride(from: i + width - 1, through: i, by: -1) {
                    out[k] = UInt8(48 + v % 10)
                    v /= 10
                }
            }
            put(year, 4, at: 0)
            out[4] = 45
            put(Int(t.tm_mon) + 1, 2, at: 5)
            out[7] = 45
            put(Int(t.tm_mday), 2, at: 8)
            out[10] = 84
            put(Int(t.tm_hour), 2, at: 11)
            out[13] = 58
            put(Int(t.tm_min), 2, at: 14)
            out[16] = 58
            put(Int(t.tm_sec), 2, at: 17)
            out[19] = 46
            put(micros, 6, at: 20)
            out[26] = 90
            return 27
        }
    }

    /// Years before 0 or after 9999 (never written by this daemon, but parseable input
    /// may reach them): padded to at least four digits.
    private static func wideYear(_ year: Int, _ t: tm, _ micros: Int) -> String {
        func pad(_ v: Int, _ w: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        return "\(pad(year, 4))-\(pad(Int(t.tm_mon) + 1, 2))-\(pad(Int(t.tm_mday), 2))T"
            + "\(pad(Int(t.tm_hour), 2)):\(pad(Int(t.tm_min), 2)):\(pad(Int(t.tm_sec), 2)).\(pad(micros, 6))Z"
    }

    /// Parses the canonical form, and for convenience also `YYYY-MM-DD`,
    /// `YYYY-MM-DDTHH:MM:SSZ` and fractions of 1–6 digits. Returns nil otherwise.
    package init?(parsing text: String) {
        let b = Array(text.utf8)
        func num(_ r: Range<Int>) -> Int32? {
            guard r.upperBound <= b.count else { return nil }
            var v: Int32 = 0
            for c in b[r] {
                guard c >= 48, c <= 57 else { return nil }
                v = v * 10 + Int32(c - 48)
            }
            return v
        }
        guard b.count >= 10, b[4] == 45, b[7] == 45, let y = num(0..<4), let mo = num(5..<7), let d = num(8..<10),
            (1...12).contains(mo), (1...31).contains(d)
        else { return nil }
        var t = tm()
        t.tm_year = y - 1900
        t.tm_mon = mo - 1
        t.tm_mday = d
        var micros: Int64 = 0
        if b.count > 10 {
            guard b.count >= 20, b[10] == 84 || b[10] == 32, b[13] == 58, b[16] == 58, let h = num(11..<13),
                let mi = num(14..<16), let s = num(17..<19), h < 24, mi < 60, s < 61
            else { return nil }
            t.tm_hour = h
            t.tm_min = mi
            t.tm_sec = s
            var i = 19
            if b[i] == 46 {
                i += 1
                var digits = 0
                while i < b.count, b[i] >= 48, b[i] <= 57 {
                    guard digits < 6 else { return nil }
                    micros = micros * 10 + Int64(b[i] - 48)
                    digits += 1
                    i += 1
                }
                guard digits > 0 else { return nil }
                for _ in digits..<6 { micros *= 10 }
            }
            guard i == b.count - 1, b[i] == 90 else { return nil }
        }
        let secs = timegm(&t)
        // timegm normalises out-of-range days (Feb 31 → Mar 3): refuse those.
        var back = tm()
        var s2 = secs
        gmtime_r(&s2, &back)
        guard back.tm_mday == d, back.tm_mon == mo - 1 else { return nil }
        microseconds = Int64(secs) * 1_000_000 + micros
    }

    package init(from decoder: any Decoder) throws {
        let s = try decoder.singleValueContainer().decode(String.self)
        guard let t = Timestamp(parsing: s) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a UTC timestamp: expected 2026-01-31T12:00:00.000000Z"))
        }
        self = t
    }

    package func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
