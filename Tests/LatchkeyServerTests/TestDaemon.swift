import LatchkeyTestSupport
import Foundation
import LatchkeyAPI
import LatchkeyClient
import LatchkeyCrypto
import LatchkeyServer
import LatchkeyStore
import Logging

/// A real daemon in this process on a temporary data directory and socket.
final class TestDaemon: @unchecked Sendable {
    let directory: String
    let dataDirectory: String
    let policiesDirectory: String
    let socketPath: String
    let keyFile: String
    let daemon: Daemon
    let logs: LogCapture
    /// The socket's mode as the daemon made it (the tests then open it to other uids).
    var socketModeAtStart: mode_t = 0

    static func makeDirectory() -> String {
        let d = "/tmp/lk-test-\(UUID().uuidString.prefix(8))"
        mkdir(d, 0o700)
        return d
    }

    /// A new daemon, or with `reopening` one on the store a stopped daemon left behind.
    /// The request timeout is 2 s unless `requestTimeout` says otherwise: short enough for the
    /// tests of slow clients, too short for a test whose client is a chain of processes
    /// started on a loaded machine.
    init(
        policy: String? = nil, reopening: String? = nil, root: String? = nil, limits: ServerLimits? = nil,
        requestTimeout: Duration = .seconds(2)
    ) async throws {
        directory = reopening ?? root ?? Self.makeDirectory()
        dataDirectory = directory + "/data"
        policiesDirectory = directory + "/policies"
        socketPath = directory + "/latchkey.sock"
        keyFile = directory + "/master.key"
        mkdir(policiesDirectory, 0o755)
        chmod(directory, 0o755)  // other test users reach the socket; the data dir stays 0700
        let defaultPolicy = daemonUserPolicy
        try? FileManager.default.removeItem(atPath: policiesDirectory + "/test.yaml")
        try (policy ?? defaultPolicy).write(toFile: policiesDirectory + "/test.yaml", atomically: true, encoding: .utf8)
        if reopening == nil {
            let store = try Store(directory: dataDirectory, create: true)
            _ = try KeyRing.initialize(store: store, source: .keyFile(path: keyFile))
        }
        logs = LogCapture()
        let capture = logs
        var config = DaemonConfiguration(
            dataDirectory: dataDirectory, policiesDirectory: policiesDirectory, socketPath: socketPath,
            keySource: .keyFile(path: keyFile))
        config.threads = 2
        if let limits { config.limits = limits }
        config.limits.requestTimeout = requestTimeout
        daemon = try await Daemon.start(config, logger: Logger(label: "test") { _ in capture })
        var st = stat()
        stat(socketPath, &st)
        socketModeAtStart = st.st_mode & 0o777
        chmod(socketPath, 0o666)  // the policy, not the file mode, decides in these tests
    }

    func client() throws -> LatchkeyClient { try LatchkeyClient(socketPath: socketPath) }

    func stop() async { await daemon.stop() }

    /// Sends raw bytes (then, with `halfClose`, shuts down the write side) and returns
    /// whatever comes back before the daemon closes or `wait` passes.
    func raw(_ bytes: [UInt8], wait: Double = 30, halfClose: Bool = false) -> String {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: Array(socketPath.utf8)) }
        _ = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        var tv = timeval(tv_sec: Int(wait), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
        if halfClose { shutdown(fd, Int32(SHUT_WR)) }
        var out = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buf, buf.count, 0)
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Collects the daemon's log lines (to prove what is and is not logged).
final class LogCapture: LogHandler, @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let meta = (event.metadata ?? [:]).merging(metadata) { a, _ in a }
        let line = "\(event.level) \(event.message) \(meta.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))"
        lock.withLock { lines.append(line) }
    }

    var text: String { lock.withLock { lines.joined(separator: "\n") } }
}

/// Runs blocking client code on a thread of its own. The daemon under test lives in this
/// process and needs Swift's cooperative threads (two on this machine); a test blocking
/// them in socket reads while tests run in parallel would starve it.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
        }
        thread.start()
    }
}
