import Foundation
import LatchkeyAPI
@testable import LatchkeyCore
import LatchkeySSH
@testable import LatchkeyServer
import NIOCore
import NIOEmbedded
import Testing

/// A session agent's connection handler on an `EmbeddedChannel`: no socket, the peer's
/// credentials injected, its timeout run by advancing the embedded loop's clock. Framing
/// as OpenSSH's agent does it: lengths checked before buffering, any split of the bytes,
/// SSH_AGENT_FAILURE for what it does not serve, the connection dropped for what no agent
/// would accept.
@Suite(.serialized) struct AgentFramingTests {
    struct FixedPeer: PeerCredentialSource {
        var peer: PeerCredentials?
        func credentials(of channel: any Channel) -> PeerCredentials? { peer }
    }

    static let me = PeerCredentials(pid: getpid(), uid: getuid(), gid: getgid())
    static let requestTimeout: Duration = .seconds(5)
    static let requestIdentities: [UInt8] = [0, 0, 0, 1, SSHAgentMessage.MessageType.requestIdentities]
    static let failure: [UInt8] = SSHAgentMessage.failure

    /// A live session of the daemon and an agent context for it, with one real key.
    struct Agent {
        let d: TestDaemon
        let context: SessionAgentContext
        let key: DeployKey

        var identitiesAnswer: [UInt8] {
            SSHAgentMessage.identitiesAnswer([SSHAgentIdentity(keyBlob: key.publicKeyBlob, comment: "latchkey:web:test")])
        }

        init(connectionsPerUID: Int = 8) async throws {
            let d = try await TestDaemon()
            let sessionID: String = try await offPool {
                let c = try d.client()
                let _: ConnectionInfo = try c.call("POST", "/v1/connections", body: ConnectionRequest(name: "ghe", kind: "github-enterprise", url: "https://ghe.example.com"))
                let _: ProjectInfo = try c.call("POST", "/v1/projects", body: ProjectRequest(name: "web", connection: "ghe", repo: "acme/web"))
                let _: DeployKeyInfo = try c.call("POST", "/v1/projects/web/deploy-keys", body: DeployKeyRequest())
                let s: SessionOpened = try c.call("POST", "/v1/sessions", body: SessionOpenRequest(project: "web", build: "b", grants: ["deploy-key"], uses: 2))
                return s.id
            }
            let key = try DeployKey.generate()
            self.d = d
            self.key = key
            context = SessionAgentContext(
                vault: d.daemon.vault, sessionID: sessionID,
                identities: [SessionAgentIdentity(blob: key.publicKeyBlob, comment: "latchkey:web:test", signer: key)],
                boundUID: getuid(), boundGID: getgid(), target: .init(project: "web"),
                connections: PerUIDConnections(limit: connectionsPerUID), requestTimeout: AgentFramingTests.requestTimeout)
        }

        func channel(peer: PeerCredentials? = AgentFramingTests.me) throws -> EmbeddedChannel {
            let channel = EmbeddedChannel(handler: AgentConnection(context: context, peerSource: FixedPeer(peer: peer)))
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            return channel
        }
    }

    /// Runs `body` with no suspension, so the embedded channels it makes are used and
    /// released on the thread that made them (an embedded loop has no other).
    static func onOneThread(_ body: () throws -> Void) rethrows { try body() }

    static func send(_ channel: EmbeddedChannel, _ bytes: [UInt8]) throws {
        try channel.writeInbound(ByteBuffer(bytes: bytes))
        channel.embeddedEventLoop.run()
    }

    /// Everything written to the peer so far.
    static func output(_ channel: EmbeddedChannel) throws -> [UInt8] {
        var out: [UInt8] = []
        while let part = try channel.readOutbound(as: ByteBuffer.self) { out += part.readableBytesView }
        return out
    }

    @Test func aPartialFrameIsAnsweredOnlyOnceWhole() async throws {
        let a = try await Agent()
        try Self.onOneThread {
            let c = try a.channel()
            try Self.send(c, [0, 0])
            #expect(try Self.output(c).isEmpty)
            try Self.send(c, [0, 1])
            #expect(try Self.output(c).isEmpty, "the length alone is not a request")
            try Self.send(c, [SSHAgentMessage.MessageType.requestIdentities])
            #expect(try Self.output(c) == a.identitiesAnswer)
            #expect(c.isActive)
            _ = try? c.finish()
        }
        await a.d.stop()
    }

    @Test func framesSplitByteByByteAreAnsweredInOrder() async throws {
        let a = try await Agent()
        try Self.onOneThread {
            let c = try a.channel()
            // Identities, an extension request (27) it does not serve, identities again.
            let stream = Self.requestIdentities + [0, 0, 0, 5, 27, 0, 0, 0, 0] + Self.requestIdentities
            for byte in stream { try Self.send(c, [byte]) }
            #expect(try Self.output(c) == a.identitiesAnswer + Self.failure + a.identitiesAnswer)
            // And all at once, in one read.
            try Self.send(c, stream)
            #expect(try Self.output(c) == a.identitiesAnswer + Self.failure + a.identitiesAnswer)
            #expect(c.isActive)
            _ = try? c.finish()
        }
        await a.d.stop()
    }

    @Test func messageTypesItDoesNotServeGetFailureAndTheConnectionGoesOn() async throws {
        let a = try await Agent()
        try Self.onOneThread {
            let c = try a.channel()
            // add identity (17), remove all (19), lock (22), add smartcard key (20), an unassigned type (200).
            for type: UInt8 in [17, 19, 22, 20, 200] {
                try Self.send(c, [0, 0, 0, 3, type, 0xde, 0xad])
                #expect(try Self.output(c) == Self.failure, "type \(type)")
            }
            try Self.send(c, Self.requestIdentities)
            #expect(try Self.output(c) == a.identitiesAnswer, "still served")
            _ = try? c.finish()
        }
        await a.d.stop()
    }

    @Test func anOverLongOrEmptyFrameDropsTheConnectionWithoutBufferingIt() async throws {
        let a = try await Agent()
        try Self.onOneThread {
            let limit = SSHAgentMessage.maxFrameBytes + 1
            let long = try a.channel()
            try Self.send(long, [UInt8(limit >> 24 & 0xff), UInt8(limit >> 16 & 0xff), UInt8(limit >> 8 & 0xff), UInt8(limit & 0xff)])
            #expect(try Self.output(long).isEmpty)
            #expect(!long.isActive, "a frame over the limit is refused from its length alone")
            let huge = try a.channel()
            try Self.send(huge, [0xff, 0xff, 0xff, 0xff, 11])
            #expect(!huge.isActive)
            let empty = try a.channel()
            try Self.send(empty, [0, 0, 0, 0])
            #expect(!empty.isActive, "a zero-length frame")
            // A known message with bytes after it, or cut short, is malformed: dropped too.
            let trailing = try a.channel()
            try Self.send(trailing, [0, 0, 0, 2, SSHAgentMessage.MessageType.requestIdentities, 0])
            #expect(try Self.output(trailing).isEmpty && !trailing.isActive)
            let truncated = try a.channel()
            try Self.send(truncated, [0, 0, 0, 5, SSHAgentMessage.MessageType.signRequest, 0, 0, 0, 9])
            #expect(try Self.output(truncated).isEmpty && !truncated.isActive)
        }
        await a.d.stop()
    }

    @Test func aConnectionWithNoWholeRequestForItsTimeoutIsClosed() async throws {
        let a = try await Agent()
        try Self.timeouts(a)
        await a.d.stop()
    }

    /// Channels made, used and released on one thread (an embedded loop has no other).
    static func timeouts(_ a: Agent) throws {
        let idle = try a.channel()
        idle.embeddedEventLoop.advanceTime(by: .seconds(4))
        #expect(idle.isActive)
        idle.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!idle.isActive, "idle past the request timeout")
        // A whole request re-arms it; a partial one does not.
        let slow = try a.channel()
        slow.embeddedEventLoop.advanceTime(by: .seconds(4))
        try Self.send(slow, Self.requestIdentities)
        #expect(try Self.output(slow) == a.identitiesAnswer)
        slow.embeddedEventLoop.advanceTime(by: .seconds(4))
        #expect(slow.isActive, "re-armed by the answered request")
        try Self.send(slow, [0, 0, 0, 1])
        slow.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!slow.isActive, "a trickled request does not hold the connection")
    }

    /// The peer comes from the injected source: another uid than the one that opened the
    /// agent, or none at all, is closed before a byte is read (and the refusal audited).
    @Test func onlyThePeerThatOpenedTheAgentIsServed() async throws {
        let a = try await Agent(connectionsPerUID: 1)
        try Self.peers(a)
        var reasons: [String] = []
        for _ in 0..<100 {
            reasons = try await a.d.daemon.vault.store.database.read { db in
                try String.fetchAll(db, sql: "SELECT reason FROM audit WHERE action = 'agent.connect' AND outcome = 'denied' ORDER BY seq")
            }
            if reasons.count >= 2 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(reasons == ["agent_not_yours", "too_many_connections"], "\(reasons)")
        await a.d.stop()
    }

    static func peers(_ a: Agent) throws {
        let stranger = try a.channel(peer: PeerCredentials(pid: 1, uid: 4242, gid: 4242))
        #expect(!stranger.isActive)
        let unknown = try a.channel(peer: nil)
        #expect(!unknown.isActive)
        let first = try a.channel()
        #expect(first.isActive)
        let second = try a.channel()
        #expect(!second.isActive, "over the per-uid connection cap")
        try Self.send(first, Self.requestIdentities)
        #expect(try Self.output(first) == a.identitiesAnswer)
        _ = try? first.finish()
        let third = try a.channel()
        #expect(third.isActive, "a closed connection frees its place")
        _ = try? third.finish()
    }
}
