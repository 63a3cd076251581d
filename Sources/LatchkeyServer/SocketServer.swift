internal import NIOCore
internal import NIOPosix
internal import NIOHTTP1
package import Logging
import Foundation
import LatchkeyCore

/// The listening Unix socket. A stale socket file from a dead daemon is replaced; a
/// live one (something answers a connect) is refused; any other file is refused. Under
/// socket activation the service manager's socket is used as it is: its file, mode and
/// owner are the manager's, and stopping leaves them in place.
package final class SocketServer: Sendable {
    package enum Failure: Error, CustomStringConvertible {
        case inUse(path: String)
        case notASocket(path: String)
        case cannotBind(path: String, reason: String)

        package var description: String {
            switch self {
            case .inUse(let p): "socket \(p) is in use by a running daemon; stop it first or choose another --socket"
            case .notASocket(let p): "\(p) exists and is not a socket; refusing to replace it"
            case .cannotBind(let p, let r): "cannot listen on \(p): \(r)"
            }
        }
    }

    package let path: String
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    private let ownsFile: Bool

    /// Binds `path` (mode 0660) and starts serving `router`; with `inherited`, serves on
    /// that listening descriptor instead (socket activation).
    package init(
        path: String, router: Router, limits: ServerLimits = ServerLimits(), logger: Logger, threads: Int? = nil, inherited: Int32? = nil
    ) throws {
        if inherited == nil { try Self.clearStale(path) }
        self.path = path
        ownsFile = inherited == nil
        group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads ?? System.coreCount))
        let requestIDs = RequestIDGenerator()
        let open = ConnectionCounter(limit: limits.maxConnections)
        let perUID = PerUIDConnections(limit: limits.maxConnectionsPerUID)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .childChannelInitializer { channel in
                guard open.tryOpen() else {
                    logger.notice("connection refused", metadata: ["code": "too_many_connections", "limit": "\(limits.maxConnections)"])
                    return channel.close()
                }
                channel.closeFuture.whenComplete { _ in open.close() }
                // Per uid too, so that one uid cannot hold every connection. The option is
                // read on the channel's own loop: the future is already complete.
                var peerUID: UInt32?
                (channel as? any SocketOptionProvider)?.unsafeGetSocketOption(level: .socket, name: .init(rawValue: SO_PEERCRED))
                    .whenSuccess { (cred: PeerCredentialsRaw) in peerUID = cred.uid }
                if let uid = peerUID {
                    guard perUID.tryOpen(uid: uid) else {
                        logger.notice("connection refused", metadata: ["code": "too_many_connections", "uid": "\(uid)", "limit": "\(limits.maxConnectionsPerUID)"])
                        return channel.close()
                    }
                    channel.closeFuture.whenComplete { _ in perUID.close(uid: uid) }
                }
                let clock = RequestClock(timeout: limits.requestTimeout, logger: logger)
                return channel.pipeline.addHandler(clock).flatMap {
                    channel.pipeline.configureHTTPServerPipeline(withErrorHandling: false)
                }.flatMapThrowing {
                    try channel.pipeline.syncOperations.addHandler(
                        HTTPHandler(router: router, limits: limits, logger: logger, requestIDs: requestIDs, clock: clock))
                }
            }
            .childChannelOption(.allowRemoteHalfClosure, value: true)
        do {
            // No process-wide umask games (other threads create files): the socket is born
            // under the umask without group/other write, so nobody else can connect until
            // the chmod below opens it to the group.
            if let inherited {
                channel = try bootstrap.withBoundSocket(inherited).wait()
            } else {
                channel = try bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: false).wait()
            }
        } catch {
            try? group.syncShutdownGracefully()
            throw Failure.cannotBind(path: path, reason: "\(error)")
        }
        if ownsFile { chmod(path, 0o660) }
    }

    /// Stops accepting, closes the listener and removes the socket file.
    package func shutdown() async {
        try? await channel.close()
        if ownsFile { unlink(path) }
        try? await group.shutdownGracefully()
    }

    static func clearStale(_ path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        guard st.st_mode & S_IFMT == S_IFSOCK else { throw Failure.notASocket(path: path) }
        if Self.answers(path) { throw Failure.inUse(path: path) }
        unlink(path)
    }

    /// Whether something accepts connections on the socket at `path`.
    static func answers(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { return false }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: bytes)
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        return rc == 0
    }
}

/// Counts open connections against a limit.
final class ConnectionCounter: Sendable {
    private let limit: Int
    private let count = AtomicCounter()
    private let closed = AtomicCounter()

    init(limit: Int) { self.limit = limit }

    func tryOpen() -> Bool {
        let opened = count.next()
        if Int(opened) - Int(closed.current) > limit {
            _ = closed.next()
            return false
        }
        return true
    }

    func close() { _ = closed.next() }
}
