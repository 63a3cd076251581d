import Foundation

/// A bare client connection to a Unix socket, for clients that misbehave on purpose:
/// it sends whatever bytes it is given and reads an HTTP response by hand.
final class RawConnection: @unchecked Sendable {
    // @unchecked: a test uses each connection from one thread at a time.
    let fd: Int32

    init?(path: String) {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if rc != 0 {
            close(fd)
            return nil
        }
    }

    deinit { close(fd) }

    /// Sends all of `bytes` (false once the daemon has closed the connection).
    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Foundation.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            off += n
        }
        return true
    }

    @discardableResult
    func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    /// Reads one response (status and body), or nil on timeout or a closed connection.
    func readResponse(timeout seconds: Int = 10) -> (status: Int, body: String)? {
        setTimeout(seconds)
        var data = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 16384)
        var headerEnd: Int?
        var length = 0
        while true {
            if let end = headerEnd, data.count >= end + length {
                let head = String(decoding: data[..<end], as: UTF8.self)
                let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? -1
                return (status, String(decoding: data[end..<(end + length)], as: UTF8.self))
            }
            let n = recv(fd, &buf, buf.count, 0)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return nil }
            data += buf[..<n]
            if headerEnd == nil, let r = data.firstRange(of: Array("\r\n\r\n".utf8)) {
                headerEnd = r.upperBound
                let head = String(decoding: data[..<r.lowerBound], as: UTF8.self).lowercased()
                for line in head.split(separator: "\r\n") where line.hasPrefix("content-length:") {
                    length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
                }
            }
        }
    }

    /// Waits until the daemon closes the connection (reading and dropping what it sends).
    func closedByPeer(timeout seconds: Int) -> Bool {
        setTimeout(seconds)
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buf, buf.count, 0)
            if n < 0 && errno == EINTR { continue }
            if n == 0 || (n < 0 && errno == ECONNRESET) { return true }
            if n < 0 { return false }
        }
    }

    private func setTimeout(_ seconds: Int) {
        var tv = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }
}

/// The daemon's open file descriptors and resident memory, sampled while a test runs.
final class ProcessSampler: @unchecked Sendable {
    private let pid: Int32
    private let lock = NSLock()
    private var running = true
    private(set) var peakDescriptors = 0
    private(set) var peakResidentKiB = 0
    private let done = DispatchSemaphore(value: 0)

    init(pid: Int32) {
        self.pid = pid
        Thread { [self] in
            while lock.withLock({ running }) {
                let fds = Self.descriptors(pid)
                let rss = Self.residentKiB(pid)
                lock.withLock {
                    peakDescriptors = max(peakDescriptors, fds)
                    peakResidentKiB = max(peakResidentKiB, rss)
                }
                usleep(50_000)
            }
            done.signal()
        }.start()
    }

    func stop() {
        lock.withLock { running = false }
        done.wait()
    }

    static func descriptors(_ pid: Int32) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? 0
    }

    static func residentKiB(_ pid: Int32) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return 0 }
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
    }
}

/// Latencies of a well-behaved client, recorded while others attack.
final class LatencyRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var micros: [Int] = []
    private(set) var failures = 0

    func add(_ us: Int) { lock.withLock { micros.append(us) } }
    func fail() { lock.withLock { failures += 1 } }

    func percentile(_ p: Double) -> Int {
        lock.withLock {
            let s = micros.sorted()
            return s.isEmpty ? 0 : s[min(s.count - 1, Int(Double(s.count) * p))]
        }
    }

    var count: Int { lock.withLock { micros.count } }
}
