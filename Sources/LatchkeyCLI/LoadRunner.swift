import Foundation

/// Drives one workload from N threads for a duration and collects latencies.
struct LoadResult: Encodable {
    var workload: String
    var clients: Int
    var seconds: Double
    var requests: Int
    var errors: Int
    var perSecond: Double
    var p50Micros: Double
    var p90Micros: Double
    var p99Micros: Double
    var p999Micros: Double
    var maxMicros: Double
    /// Audit rows the daemon wrote for the answered requests (nil when not checked).
    var auditRows: Int?
    var auditRowsExpected: Int?
    var auditMatches: Bool?
    var peakRSSKiB: Int?
    var note: String?
}

/// What the load threads collected; guarded by `lock`.
final class LoadTotals: @unchecked Sendable {
    let lock = NSLock()
    var latencies: [Double] = []
    var errors = 0
}

enum LoadRunner {
    /// Runs `operation` in a loop on `clients` threads for `duration`; each thread gets its
    /// own state from `makeClient`. An operation returns false for an error.
    static func run<Client>(
        workload: String, clients: Int, duration: Double, makeClient: @escaping @Sendable (Int) throws -> Client,
        operation: @escaping @Sendable (inout Client) -> Bool
    ) -> LoadResult {
        let totals = LoadTotals()
        let group = DispatchGroup()
        let start = ContinuousClock.now
        let deadline = start + .milliseconds(Int64(duration * 1000))
        for i in 0..<clients {
            group.enter()
            let thread = Thread {
                defer { group.leave() }
                var local: [Double] = []
                local.reserveCapacity(100_000)
                var localErrors = 0
                guard var client = try? makeClient(i) else {
                    totals.lock.withLock { totals.errors += 1 }
                    return
                }
                while ContinuousClock.now < deadline {
                    let t0 = ContinuousClock.now
                    let ok = operation(&client)
                    let dt = ContinuousClock.now - t0
                    if ok {
                        local.append(Double(dt.components.seconds) * 1e6 + Double(dt.components.attoseconds) / 1e12)
                    } else {
                        localErrors += 1
                        if localErrors > 1000 { break }
                    }
                }
                totals.lock.withLock {
                    totals.latencies += local
                    totals.errors += localErrors
                }
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        group.wait()
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let latencies = totals.latencies.sorted()
        let errors = totals.errors
        func pct(_ p: Double) -> Double {
            guard !latencies.isEmpty else { return 0 }
            return latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))]
        }
        return LoadResult(
            workload: workload, clients: clients, seconds: seconds, requests: latencies.count, errors: errors,
            perSecond: Double(latencies.count) / seconds, p50Micros: pct(0.5), p90Micros: pct(0.9), p99Micros: pct(0.99),
            p999Micros: pct(0.999), maxMicros: latencies.last ?? 0)
    }
}

/// A blocking client of an ssh-agent socket (ours or OpenSSH's), for the agent workload.
final class AgentSocketClient {
    private let fd: Int32

    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            close(fd)
            throw InputError("cannot connect to the agent at \(path)")
        }
    }

    deinit { close(fd) }

    /// Sends one framed request and reads one framed reply; returns the reply's type byte.
    func roundTrip(_ request: [UInt8]) -> UInt8? {
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else { return nil }
        var header = [UInt8](repeating: 0, count: 4)
        guard readFully(&header) else { return nil }
        let n = Int(UInt32(header[0]) << 24 | UInt32(header[1]) << 16 | UInt32(header[2]) << 8 | UInt32(header[3]))
        guard n >= 1, n <= 1 << 20 else { return nil }
        var body = [UInt8](repeating: 0, count: n)
        guard readFully(&body) else { return nil }
        return body[0]
    }

    private func readFully(_ buf: inout [UInt8]) -> Bool {
        var got = 0
        while got < buf.count {
            let r = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, $0.count - got, 0) }
            if r <= 0 { if r < 0 && errno == EINTR { continue }; return false }
            got += r
        }
        return true
    }
}
