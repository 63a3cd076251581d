/// Request ids are the daemon's own: a random prefix per run and a counter, so no client
/// can give its request another's id. A client's `X-Request-Id` is kept beside it as a
/// label (`clientLabel`), in the audit row's `client_request_id`.
package final class RequestIDGenerator: Sendable {
    /// Longest client request id kept.
    package static let maxClientIDBytes = 64

    private let prefix: String
    private let counter = AtomicCounter()

    package init() {
        prefix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
    }

    package func next() -> String {
        "\(prefix)-\(counter.next())"
    }

    /// A client's `X-Request-Id` as it is kept: 1–64 of `A–Z a–z 0–9 - _ .`; anything else
    /// is not kept (nil).
    package static func clientLabel(_ value: String?) -> String? {
        guard let c = value, (1...maxClientIDBytes).contains(c.utf8.count),
            c.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45 || $0 == 95 || $0 == 46 })
        else { return nil }
        return c
    }
}
