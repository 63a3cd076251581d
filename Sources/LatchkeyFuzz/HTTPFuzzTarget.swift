import Foundation
import LatchkeyCrypto
import LatchkeyServer
import LatchkeyStore
import Logging

/// HTTP request handling and the JSON of every endpoint, end to end: a real daemon
/// (store, audit log, policy, socket) runs in this process on a temporary directory,
/// with a connection, a project, a deploy key, a token and a session in it; each input
/// is written raw to its socket as one client's bytes, the write side is closed and the
/// answers read. The daemon must never crash and never answer 500 (an internal fault is
/// a path no input should reach).
enum HTTPFuzzTarget {
    static let root = NSTemporaryDirectory() + "latchkey-fuzz-http-\(getpid())"

    static let socketPath: String = {
        atexit { try? FileManager.default.removeItem(atPath: HTTPFuzzTarget.root) }
        let dataDirectory = root + "/data", policies = root + "/policies", keyFile = root + "/master.key"
        mkdir(root, 0o755)
        mkdir(policies, 0o755)
        let uid = getuid()
        let policy = """
            version: 1
            admins: { uids: [\(uid)] }
            auditors: { uids: [\(uid)] }
            runners:
              - name: fuzz
                who: { uids: [\(uid)] }
                projects: ["*"]
                grants: [deploy-key, token]
                max_ttl: 1h
                max_uses: 100000
                builds: { uids: [\(uid)] }
            """
        try! policy.write(toFile: policies + "/policy.yaml", atomically: true, encoding: .utf8)
        let store = try! Store(directory: dataDirectory, create: true)
        _ = try! KeyRing.initialize(store: store, source: .keyFile(path: keyFile))
        var config = DaemonConfiguration(
            dataDirectory: dataDirectory, policiesDirectory: policies, socketPath: root + "/latchkey.sock",
            keySource: .keyFile(path: keyFile))
        config.threads = 1
        config.limits.requestTimeout = .seconds(2)
        let started = DispatchSemaphore(value: 0)
        Task {
            daemon.set(try! await Daemon.start(config, logger: Logger(label: "fuzz") { _ in SwiftLogNoOpLogHandler() }))
            started.signal()
        }
        started.wait()
        let path = root + "/latchkey.sock"
        for request in seedRequests { _ = exchange(path, Array(request.utf8)) }
        // A token, sealed to the daemon's intake key as `latchkey token seal` does.
        let answer = exchange(path, Array("GET /v1/intake-key HTTP/1.1\r\nHost: latchkey\r\nConnection: close\r\n\r\n".utf8))
        guard let body = answer.firstRange(of: Array("\r\n\r\n".utf8)).map({ Data(answer[$0.upperBound...]) }),
            let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
            let publicKey = (object["publicKey"] as? String).flatMap({ Data(base64Encoded: $0) })
        else { fuzzFailure("no intake key from the fuzzing daemon: \(String(decoding: answer, as: UTF8.self))") }
        var token = Array("ghp_fuzz0123456789abcdefghijklmnopqrstu".utf8)
        let sealed = Data(IntakeKeyPair.seal(try! SecretBytes(consuming: &token), to: Array(publicKey))).base64EncodedString()
        _ = exchange(path, Array(json("POST", "/v1/connections/ghe/tokens", #"{"username":"ci","sealedToken":"\#(sealed)"}"#).utf8))
        _ = exchange(path, Array(json("POST", "/v1/sessions", #"{"project":"web","build":"fuzz","grants":["deploy-key","token"],"uses":100000}"#).utf8))
        return path
    }()

    /// Keeps the daemon alive for the process's lifetime.
    static let daemon = DaemonHolder()

    /// What the store holds before the first input (with a token and a session, below).
    static let seedRequests = [
        json("POST", "/v1/connections", #"{"name":"ghe","kind":"github-enterprise","url":"https://ghe.example.com"}"#),
        json("POST", "/v1/projects", #"{"name":"web","connection":"ghe","repo":"acme/web"}"#),
        json("POST", "/v1/projects/web/deploy-keys", "{}"),
    ]

    static func json(_ method: String, _ path: String, _ body: String) -> String {
        "\(method) \(path) HTTP/1.1\r\nHost: latchkey\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
    }

    static func run(_ input: [UInt8]) {
        let answer = exchange(socketPath, input)
        if answer.firstRange(of: Array("HTTP/1.1 500".utf8)) != nil {
            fuzzFailure("the daemon answered 500: \(String(decoding: answer.prefix(400), as: UTF8.self))")
        }
    }

    /// Connects, sends `bytes`, closes the write side and reads until the daemon closes.
    static func exchange(_ path: String, _ bytes: [UInt8]) -> [UInt8] {
        // Close-on-exec: a child another test starts meanwhile must not hold this end.
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { fuzzFailure("socket: \(errno)") }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else { fuzzFailure("the daemon stopped accepting connections (errno \(errno))") }
        var tv = timeval(tv_sec: FuzzTarget.daemonAnswerTimeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }
            off += n
        }
        shutdown(fd, Int32(SHUT_WR))
        var answer = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = recv(fd, &buf, buf.count, 0)
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { fuzzFailure("the daemon did not answer within \(FuzzTarget.daemonAnswerTimeoutSeconds) s") }
            if n <= 0 { break }
            answer += buf[..<n]
        }
        return answer
    }
}

/// Holds the fuzzing daemon.
final class DaemonHolder: @unchecked Sendable {
    // @unchecked: set once before any input runs.
    private(set) var daemon: Daemon?
    func set(_ d: Daemon) { daemon = d }
}
