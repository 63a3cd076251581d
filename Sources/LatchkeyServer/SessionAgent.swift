internal import NIOCore
internal import NIOPosix
import Foundation
import LatchkeyAudit
import LatchkeyPolicy
import LatchkeySSH
import LatchkeyCore
import Synchronization

/// Starts session agents on NIO's singleton event-loop group.
package struct NIOSessionAgentFactory: SessionAgentFactory {
    package init() {}

    package func start(_ context: SessionAgentContext, under parent: String) throws -> any SessionAgentHandle {
        try SessionAgent(context: context, under: parent)
    }
}

/// A build session's own ssh-agent: a Unix socket speaking OpenSSH's agent protocol
/// (PROTOCOL.agent) that lists only the session's deploy key and signs with it, so the
/// private key never leaves the daemon. It accepts only peers the session's rule lets
/// redeem, answers identities and signature requests (rsa-sha2-256/512 flags included)
/// and SSH_AGENT_FAILURE to everything else, audits every signature, and disappears —
/// socket and directory — when the session ends. It counts against nothing but the TTL.
final class SessionAgent: SessionAgentHandle {
    let sessionID: String
    let directory: String
    let socketPath: String
    let fingerprint: String
    private let channel: any Channel

    typealias Context = SessionAgentContext

    init(context: Context, under parent: String) throws {
        sessionID = context.sessionID
        fingerprint = context.identities.first?.signer.fingerprint ?? ""
        var template = Array("\(parent)/latchkey-agent-XXXXXX".utf8CString)
        guard let dir = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }).map({ String(cString: $0) }) else {
            throw APIError(.agentUnavailable, "cannot create the agent's directory")
        }
        chmod(dir, 0o711)  // reachable by the build user; the socket checks peers itself
        directory = dir
        socketPath = dir + "/agent.sock"
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(AgentConnection(context: context))
                }
            }
        do {
            channel = try bootstrap.bind(unixDomainSocketPath: socketPath).wait()
        } catch {
            rmdir(dir)
            throw APIError(.agentUnavailable, "cannot listen on the agent socket")
        }
        chmod(socketPath, 0o666)
    }

    func stop() {
        channel.close(promise: nil)
        unlink(socketPath)
        rmdir(directory)
    }
}

/// One client connection to a session agent. Requests are answered in order.
final class AgentConnection: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked: state is touched only on the channel's event loop.
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let context: SessionAgent.Context
    private var framer = SSHAgentFramer()
    private var peer: PeerCredentials?
    private var queue: EventLoopFuture<Void>?

    init(context: SessionAgent.Context) { self.context = context }

    func channelActive(context ctx: ChannelHandlerContext) {
        var cred = PeerCredentialsRaw()
        if let provider = ctx.channel as? any SocketOptionProvider {
            provider.unsafeGetSocketOption(level: .socket, name: .init(rawValue: SO_PEERCRED)).whenSuccess { (c: PeerCredentialsRaw) in
                cred = c
                self.peer = PeerCredentials(pid: c.pid, uid: c.uid, gid: c.gid)
            }
        }
        let identity = PeerIdentity(uid: cred.uid, gid: cred.gid, pid: cred.pid)
        guard peer != nil, self.context.rule.mayRedeem(identity) else {
            let entry = AuditEntry(
                actor: .init(role: .build, uid: cred.uid, gid: cred.gid, pid: cred.pid, sessionID: self.context.sessionID),
                action: .agentConnect, target: self.context.target, outcome: .denied, reason: RefusalCode.peerNotAllowed.rawValue)
            let vault = self.context.vault
            Task { _ = try? await vault.audit.append(entry) }
            ctx.close(promise: nil)
            return
        }
        ctx.fireChannelActive()
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
        guard let session = c.vault.sessions.session(id: c.sessionID), ContinuousClock.now < session.deadline else {
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
