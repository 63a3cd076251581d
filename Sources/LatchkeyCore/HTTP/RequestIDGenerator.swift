/// Request ids: the client's `X-Request-Id` if short and plain, else a fresh one.
package final class RequestIDGenerator: Sendable {
    private let prefix: String
    private let counter = AtomicCounter()

    package init() {
        prefix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
    }

    package func next(clientSupplied: String?) -> String {
        if let c = clientSupplied, (1...64).contains(c.utf8.count),
            c.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45 || $0 == 95 || $0 == 46 })
        {
            return c
        }
        return "\(prefix)-\(counter.next())"
    }
}
