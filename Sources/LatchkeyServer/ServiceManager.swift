import Foundation

/// What the service manager (systemd) handed the daemon, and how it tells it back.
///
/// Readiness: `Type=notify` units set `NOTIFY_SOCKET` to an `AF_UNIX` datagram socket
/// (a path, or an abstract name written with a leading `@`); the daemon sends
/// `READY=1` once it serves, `RELOADING=1` / `READY=1` around a policy reload and
/// `STOPPING=1` when it begins to stop — the sd_notify(3) protocol, written by hand in
/// one `sendto` (no libsystemd). With no `NOTIFY_SOCKET` every notice is a no-op.
///
/// Socket activation: a `.socket` unit passes listening sockets as descriptors 3, 4, …
/// with `LISTEN_FDS` (how many), `LISTEN_PID` (for whom: ours, or they are not ours to
/// take) and `LISTEN_FDNAMES` (colon-separated names) — sd_listen_fds(3). The variables
/// are removed once read, so nothing the daemon starts inherits them, and the
/// descriptors are marked close-on-exec.
package enum ServiceManager {
    /// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
    static let firstPassedDescriptor: Int32 = 3

    /// Sends `state` (e.g. `READY=1`) to `NOTIFY_SOCKET`; false when there is none or it fails.
    @discardableResult
    package static func notify(_ state: String) -> Bool {
        notify(state, socket: ProcessInfo.processInfo.environment["NOTIFY_SOCKET"])
    }

    /// Sends `state` to the notification socket `target` (a path, or `@name`).
    static func notify(_ state: String, socket target: String?) -> Bool {
        guard let target, !target.isEmpty else { return false }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var path = Array(target.utf8)
        let abstract = path.first == UInt8(ascii: "@")
        if abstract { path[0] = 0 }  // Linux's abstract namespace: a name that starts with NUL
        guard path.first == UInt8(ascii: "/") || abstract, path.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path) }
        // An abstract address's length counts exactly its bytes; a path's its NUL too.
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count + (abstract ? 0 : 1))
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let message = Array(state.utf8)
        let sent = withUnsafePointer(to: &address) { a in
            a.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                message.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), sa, length) }
            }
        }
        return sent == message.count
    }

    /// A listening socket passed to this process.
    package struct PassedSocket: Sendable, Equatable {
        package var descriptor: Int32
        package var name: String
        /// The path it is bound to, when it is a Unix stream socket with one.
        package var path: String?
    }

    package enum Failure: Error, CustomStringConvertible, Sendable {
        case badEnvironment(String)
        case notAUnixStreamSocket(descriptor: Int32, name: String)

        package var description: String {
            switch self {
            case .badEnvironment(let m): "socket activation: \(m)"
            case .notAUnixStreamSocket(let fd, let name):
                "socket activation: descriptor \(fd) (\(name)) is not a listening Unix stream socket; use ListenStream=/path in the .socket unit"
            }
        }
    }

    /// The sockets passed to this process (empty when it was not socket-activated, or
    /// they were meant for another pid), and removes the `LISTEN_*` variables.
    package static func takePassedSockets() throws -> [PassedSocket] {
        let env = ProcessInfo.processInfo.environment
        defer { for name in ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"] { unsetenv(name) } }
        return try passedSockets(environment: env, pid: getpid())
    }

    /// `takePassedSockets` over a given environment (for tests); removes nothing.
    static func passedSockets(environment env: [String: String], pid: pid_t) throws -> [PassedSocket] {
        guard let countText = env["LISTEN_FDS"] else { return [] }
        guard let pidText = env["LISTEN_PID"], let forPID = pid_t(pidText), forPID == pid else { return [] }
        guard let count = Int32(countText), count >= 0, count <= maxPassedSockets else {
            throw Failure.badEnvironment("LISTEN_FDS='\(countText.prefix(16))' is not a count of descriptors")
        }
        let names = env["LISTEN_FDNAMES"].map { $0.split(separator: ":", omittingEmptySubsequences: false).map(String.init) } ?? []
        var sockets: [PassedSocket] = []
        for i in 0..<count {
            let fd = firstPassedDescriptor + i
            let name = Int(i) < names.count ? names[Int(i)] : "unknown"
            guard fcntl(fd, F_SETFD, FD_CLOEXEC) == 0 else {
                throw Failure.badEnvironment("LISTEN_FDS=\(count) but descriptor \(fd) is not open")
            }
            guard let path = listeningUnixPath(fd) else { throw Failure.notAUnixStreamSocket(descriptor: fd, name: name) }
            sockets.append(PassedSocket(descriptor: fd, name: name, path: path.isEmpty ? nil : path))
        }
        return sockets
    }

    /// More than this many passed descriptors is a misconfiguration, not a plan.
    static let maxPassedSockets: Int32 = 64

    /// The bound path of a listening AF_UNIX stream socket ("" when unnamed), nil otherwise.
    static func listeningUnixPath(_ fd: Int32) -> String? {
        var type: Int32 = 0
        var listening: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &size) == 0, type == Int32(SOCK_STREAM.rawValue) else { return nil }
        size = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &size) == 0, listening == 1 else { return nil }
        var address = sockaddr_un()
        var length = socklen_t(MemoryLayout<sockaddr_un>.size)
        let rc = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard rc == 0, address.sun_family == sa_family_t(AF_UNIX) else { return nil }
        let pathBytes = Int(length) - MemoryLayout<sa_family_t>.size
        guard pathBytes > 0 else { return "" }
        return withUnsafeBytes(of: &address.sun_path) { raw in
            let bytes = raw.prefix(pathBytes)
            if bytes.first == 0 { return "@" + String(decoding: bytes.dropFirst(), as: UTF8.self) }
            return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
