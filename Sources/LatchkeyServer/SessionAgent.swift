internal import NIOCore
internal import NIOPosix
import Foundation
import LatchkeyAudit
import LatchkeyCrypto
import LatchkeyPolicy
import LatchkeySSH
import LatchkeyCore

/// Starts session agents on NIO's singleton event-loop group.
package struct NIOSessionAgentFactory: SessionAgentFactory {
    package init() {}

    package func start(_ context: SessionAgentContext, under parent: String) throws -> any SessionAgentHandle {
        try SessionAgent(context: context, under: parent)
    }
}

/// A build session's own ssh-agent: a Unix socket speaking OpenSSH's agent protocol
/// (PROTOCOL.agent) that lists only the session's identities (its certificate and key with
/// ssh-cert, its deploy key with deploy-key or deploy-key-agent) and signs with them, so
/// the private keys never leave the daemon. It answers identities and signature requests
/// (rsa-sha2-256/512 flags included) and SSH_AGENT_FAILURE to everything else, audits
/// every signature, and disappears when the session ends. It takes no session use.
///
/// Proof of the session. An agent is opened with the session token, and from then on
/// it serves only the uid that opened it (the build that proved it holds the token),
/// and only while the session's rule still lets that uid redeem. Its socket is named
/// by `socketNameBytes` random bytes in the daemon's agent directory, which others may
/// traverse but not list (0711), so its path is known only to the token's holder —
/// though on Linux `/proc/net/unix` shows every bound socket path, so the uid binding,
/// checked with `SO_PEERCRED` at every connection, is what holds. (A handshake with the
/// token would hold against the same uid too, but no stock ssh, git or ssh-add speaks
/// it; and a build of the same uid can read the first build's memory and environment
/// anyway.)
///
/// Revocation. Every signature with the deploy key checks the session's pinned version
/// (the session table holds it, updated by rotations): a version revoked, or past its
/// grace, signs nothing, even in the instant before its sessions are ended
/// (`SessionAgentContext.maySign`).
///
/// Limits: connections per uid across all agents (`SessionAgents.perUID`), and each
/// connection is closed when no whole request arrives for `requestTimeout`.
final class SessionAgent: SessionAgentHandle {
    /// Random bytes in an agent socket's name (160 bits, hex): unguessable.
    static let socketNameBytes = 20
    /// The agent directory's mode: the daemon lists it, others only traverse it.
    static let directoryMode: mode_t = 0o711
    /// Name of the agent directory, inside the daemon's socket directory.
    static let directoryName = "latchkey-agents"

    let sessionID: String
    let socketPath: String
    let fingerprint: String
    /// The uid that opened the agent: the only one it serves.
    let boundUID: UInt32
    /// The opener as the policy sees it (uid and gid), for re-checks on policy reload.
    let boundPeer: PeerIdentity
    private let channel: any Channel

    typealias Context = SessionAgentContext

    /// The agent directory under `parent`, made (mode 0711, ours) if missing; refused if
    /// it is anything else — a symlink, another owner's, or writable by others.
    static func directory(under parent: String) throws -> String {
        let dir = parent + "/" + directoryName
        if mkdir(dir, directoryMode) != 0 && errno != EEXIST {
            throw APIError(.agentUnavailable, "cannot create the agent directory")
        }
        var st = stat()
        guard lstat(dir, &st) == 0, st.st_mode & S_IFMT == S_IFDIR, st.st_uid == getuid() else {
            throw APIError(.agentUnavailable, "the agent directory is not a directory the daemon owns")
        }
        if st.st_mode & 0o7777 != directoryMode { chmod(dir, directoryMode) }
        return dir
    }

    init(context: Context, under parent: String) throws {
        sessionID = context.sessionID
        fingerprint = context.identities.first?.signer.fingerprint ?? ""
        boundUID = context.boundUID
        boundPeer = PeerIdentity(uid: context.boundUID, gid: context.boundGID, pid: 0)
        let dir = try Self.directory(under: parent)
        socketPath = dir + "/" + Hex.encode(randomBytes(Self.socketNameBytes)) + ".sock"
        guard socketPath.utf8.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else {
            throw APIError(.agentUnavailable, "the agent socket path is too long; use a shorter --socket directory")
        }
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(AgentConnection(context: context))
                }
            }
        do {
            channel = try bootstrap.bind(unixDomainSocketPath: socketPath).wait()
        } catch {
            throw APIError(.agentUnavailable, "cannot listen on the agent socket")
        }
        chmod(socketPath, 0o666)  // reachable by the build user; every connection's peer is checked
    }

    func stop() {
        channel.close(promise: nil)
        unlink(socketPath)
    }
}

/// One client connection to a session agent. Requests are answered in order.
///
/// Framing (PROTOCOL.agent, as OpenSSH's ssh-agent checks it): a frame's length is checked
/// before anything is buffered for it (over `SSHAgentMessage.maxFrameBytes`, or zero: the
/// connection is dropped); bytes may arrive in any split, a frame answered once whole; a
/// message type the agent does not serve gets SSH_AGENT_FAILURE and the connection goes
/// on; a malformed message of a type it serves drops the connection. Its peer comes from
/// a `PeerCredentialSource` (`SO_PEERCRED`; tests inject one) and its timeout runs on the
/// channel's event loop (tests advance an embedded loop's clock).
final class AgentConnection: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked: state is touched only on the channel's event loop.
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let context: SessionAgent.Context
    private let peerSource: any PeerCredentialSource
    private var framer = SSHAgentFramer()
    private var peer: PeerCredentials?
    private var counted = false
    private var queue: EventLoopFuture<Void>?
    /// From the last whole request (or the connection): closed after `requestTimeout`.
    private let deadline: SlidingTimeout

    init(context: SessionAgent.Context, peerSource: any PeerCredentialSource = KernelPeerCredentials()) {
        self.context = context
        self.peerSource = peerSource
        deadline = SlidingTimeout(context.requestTimeout)
    }

    func channelActive(context ctx: ChannelHandlerContext) {
        // Read once, on the event loop itself (for a socket the option's future is already complete).
        guard let cred = peerSource.credentials(of: ctx.channel) else { return ctx.close(promise: nil) }
        let c = self.context
        let identity = PeerIdentity(uid: cred.uid, gid: cred.gid, pid: cred.pid)
        var reason = c.refusal(for: identity)
        if reason == nil && !c.connections.tryOpen(uid: cred.uid) { reason = .tooManyConnections }
        if let reason {
            let entry = AuditEntry(
                actor: .init(role: .build, uid: cred.uid, gid: cred.gid, pid: cred.pid, sessionID: c.sessionID),
                action: .agentConnect, target: c.target, outcome: .denied, reason: reason.rawValue)
            c.vault.auditRefusal(entry)
            ctx.close(promise: nil)
            return
        }
        counted = true
        peer = PeerCredentials(pid: cred.pid, uid: cred.uid, gid: cred.gid)
        armDeadline(ctx)
        ctx.fireChannelActive()
    }

    func channelInactive(context ctx: ChannelHandlerContext) {
        deadline.cancel()
        if counted, let peer {
            counted = false
            context.connections.close(uid: peer.uid)
        }
        ctx.fireChannelInactive()
    }

    /// A connection that sends no whole request for `requestTimeout` is closed (slow or
    /// idle clients hold no descriptor for long); each whole request counts it afresh.
    private func armDeadline(_ ctx: ChannelHandlerContext) {
        deadline.restart(on: ctx.eventLoop) { ctx.close(promise: nil) }
    }

    func channelRead(context ctx: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        framer.append(buffer.readableBytesView)
        while true {
            let message: SSHAgentMessage?
            do {
                message = try framer.nextMessage()
            } catch {
                ctx.close(promise: nil)  // oversized or malformed framing: drop, as OpenSSH's agent does
                return
            }
            guard let message else { return }
            armDeadline(ctx)
            let loop = ctx.eventLoop
            let previous = queue ?? loop.makeSucceededVoidFuture()
            let handling = previous.flatMap { [self] in
                answer(message, on: loop).map { reply in
                    var out = ctx.channel.allocator.buffer(capacity: reply.count)
                    out.writeBytes(reply)
                    ctx.writeAndFlush(self.wrapOutboundOut(out), promise: nil)
                }
            }
            queue = handling
        }
    }

    /// Answers on the event loop; a signature leaves once its audit row is durable, a
    /// refusal once its row is written (or could not be).
    private func answer(_ message: SSHAgentMessage, on loop: any EventLoop) -> EventLoopFuture<[UInt8]> {
        let c = context
        guard let live = c.vault.sessions.session(id: c.sessionID), ContinuousClock.now < live.deadline else {
            return loop.makeSucceededFuture(SSHAgentMessage.failure)
        }
        switch message {
        case .requestIdentities:
            return loop.makeSucceededFuture(
                SSHAgentMessage.identitiesAnswer(c.identities.map { SSHAgentIdentity(keyBlob: $0.blob, comment: $0.comment) }))
        case .signRequest(let blob, let data, let flags):
            let p = peer
            var entry = AuditEntry(
                actor: .init(role: .build, uid: p?.uid, gid: p?.gid, pid: p?.pid, sessionID: c.sessionID), action: .agentSign,
                target: c.target, outcome: .granted)
            guard let identity = c.identities.first(where: { $0.blob == blob }) else {
                entry.outcome = .denied
                entry.reason = RefusalCode.unknownKey.rawValue
                return recorded(entry, on: loop) { _ in SSHAgentMessage.failure }
            }
            // The pinned version, as the session table holds it now: revoked or past its
            // grace, the deploy key signs nothing (a certificate lives as its session).
            guard c.maySign(with: identity, in: live) else {
                entry.outcome = .denied
                entry.reason = RefusalCode.secretRevoked.rawValue
                return recorded(entry, on: loop) { _ in SSHAgentMessage.failure }
            }
            guard let signature = try? identity.signer.sign(data, flags: flags) else { return loop.makeSucceededFuture(SSHAgentMessage.failure) }
            let metrics = c.vault.metrics
            return recorded(entry, on: loop) { durable in
                guard durable else { return SSHAgentMessage.failure }
                metrics.signed()
                return SSHAgentMessage.signResponse(signature: signature)
            }
        case .unsupported:
            return loop.makeSucceededFuture(SSHAgentMessage.failure)
        }
    }

    /// The reply `reply(durable)` once the audit writer has written `entry` or failed to.
    private func recorded(_ entry: AuditEntry, on loop: any EventLoop, reply: @escaping @Sendable (Bool) -> [UInt8]) -> EventLoopFuture<[UInt8]> {
        let promise = loop.makePromise(of: [UInt8].self)
        context.vault.audit.append(entry) { result in
            if case .success = result { promise.succeed(reply(true)) } else { promise.succeed(reply(false)) }
        }
        return promise.futureResult
    }

    func errorCaught(context ctx: ChannelHandlerContext, error: any Error) {
        ctx.close(promise: nil)
    }
}
