import Foundation
@testable import LatchkeyServer
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

/// The NIO adapter on an `EmbeddedChannel`: no socket, the peer's credentials injected,
/// time advanced by hand. Health answers on the event loop, so every answer here is
/// written before `writeInbound` returns.
@Suite(.serialized) struct HTTPHandlerTests {
    struct FixedPeer: PeerCredentialSource {
        var peer: PeerCredentials?
        func credentials(of channel: any Channel) -> PeerCredentials? { peer }
    }

    static let me = PeerCredentials(pid: getpid(), uid: getuid(), gid: getgid())
    static let health = "GET /v1/health HTTP/1.1\r\nHost: latchkey\r\n\r\n"

    static func channel(_ router: Router, peer: PeerCredentials? = me, limits: ServerLimits = ServerLimits()) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        let clock = RequestClock(timeout: limits.requestTimeout, logger: logger)
        try channel.pipeline.syncOperations.addHandler(clock)
        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: false)
        try channel.pipeline.syncOperations.addHandler(
            HTTPHandler(router: router, limits: limits, logger: logger, requestIDs: RequestIDGenerator(), clock: clock, peerSource: FixedPeer(peer: peer)))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        _ = try channel.setOption(.allowRemoteHalfClosure, value: true).wait()
        return channel
    }

    /// Everything written to the peer so far, as text.
    static func output(_ channel: EmbeddedChannel) throws -> String {
        var out = ""
        while let part = try channel.readOutbound(as: IOData.self) {
            if case .byteBuffer(let b) = part { out += String(buffer: b) }
        }
        return out
    }

    static func statuses(_ text: String) -> [Int] {
        text.components(separatedBy: "HTTP/1.1 ").dropFirst().compactMap { Int($0.prefix(3)) }
    }

    @Test func withoutPeerCredentialsNothingIsAnswered() async throws {
        let d = try await TestDaemon()
        let c = try Self.channel(d.daemon.vault.router(), peer: nil)
        try c.writeInbound(ByteBuffer(string: Self.health))
        let out = try Self.output(c)
        #expect(Self.statuses(out) == [401] && out.contains("no_peer_credentials"))
        #expect(!c.isActive, "closed after the refusal")
        await d.stop()
    }

    @Test func pipelinedRequestsAreAnsweredInOrderOnOneConnection() async throws {
        let d = try await TestDaemon()
        let c = try Self.channel(d.daemon.vault.router())
        try c.writeInbound(ByteBuffer(string: Self.health + Self.health + Self.health))
        let out = try Self.output(c)
        #expect(Self.statuses(out) == [200, 200, 200])
        #expect(c.isActive, "keep-alive")
        _ = try? c.finish()
        await d.stop()
    }

    @Test func aHalfClosedClientGetsItsAnswerThenTheConnectionCloses() async throws {
        let d = try await TestDaemon()
        let c = try Self.channel(d.daemon.vault.router())
        try c.writeInbound(ByteBuffer(string: Self.health))
        c.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(Self.statuses(try Self.output(c)) == [200])
        #expect(!c.isActive)
        await d.stop()
    }

    @Test func anOversizedBodyIs413AndHeadersOverTheLimitAre431() async throws {
        let d = try await TestDaemon()
        var limits = ServerLimits()
        limits.maxBodyBytes = 16
        limits.maxHeaderCount = 4
        let big = try Self.channel(d.daemon.vault.router(), limits: limits)
        try big.writeInbound(ByteBuffer(string: "POST /v1/projects HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n{\"name\":\"aaaaaa\"}"))
        let out = try Self.output(big)
        #expect(Self.statuses(out) == [413] && out.contains("body_too_large"))
        #expect(!big.isActive)
        let many = try Self.channel(d.daemon.vault.router(), limits: limits)
        try many.writeInbound(ByteBuffer(string: "GET /v1/health HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n"))
        let out2 = try Self.output(many)
        #expect(Self.statuses(out2) == [431] && out2.contains("headers_too_large"))
        await d.stop()
    }

    @Test func malformedHTTPIs400BadHTTP() async throws {
        let d = try await TestDaemon()
        let c = try Self.channel(d.daemon.vault.router())
        try? c.writeInbound(ByteBuffer(string: "GET /v1/health HTTP/1.1\r\nBad Header\r\n\r\n"))
        let out = try Self.output(c)
        #expect(Self.statuses(out) == [400] && out.contains("bad_http"))
        await d.stop()
    }

    @Test func aRequestThatDoesNotArriveInTimeIs408AndAnIdleConnectionIsClosed() async throws {
        let d = try await TestDaemon()
        var limits = ServerLimits()
        limits.requestTimeout = .seconds(2)
        limits.idleTimeout = .seconds(5)
        let slow = try Self.channel(d.daemon.vault.router(), limits: limits)
        try slow.writeInbound(ByteBuffer(string: "GET /v1/health HTTP/1.1\r\nHo"))
        slow.embeddedEventLoop.advanceTime(by: .seconds(3))
        let out = try Self.output(slow)
        #expect(Self.statuses(out) == [408] && out.contains("request_timeout"))
        #expect(!slow.isActive)
        let idle = try Self.channel(d.daemon.vault.router(), limits: limits)
        try idle.writeInbound(ByteBuffer(string: Self.health))
        #expect(Self.statuses(try Self.output(idle)) == [200])
        idle.embeddedEventLoop.advanceTime(by: .seconds(4))
        #expect(idle.isActive, "not yet idle long enough")
        idle.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!idle.isActive, "closed after the idle timeout")
        await d.stop()
    }

    /// Each connection keeps one timer per limit, set once per timeout rather than per
    /// request: the timer, when it fires, must measure from the latest request, not the
    /// one that set it.
    @Test func theTimeoutsCountFromTheLatestRequestNotTheOneThatSetTheTimer() async throws {
        let d = try await TestDaemon()
        var limits = ServerLimits()
        limits.requestTimeout = .seconds(2)
        limits.idleTimeout = .seconds(5)
        let idle = try Self.channel(d.daemon.vault.router(), limits: limits)
        try idle.writeInbound(ByteBuffer(string: Self.health))  // the idle timer is set for 5 s
        #expect(Self.statuses(try Self.output(idle)) == [200])
        idle.embeddedEventLoop.advanceTime(by: .seconds(4))
        try idle.writeInbound(ByteBuffer(string: Self.health))  // idle again from 4 s
        #expect(Self.statuses(try Self.output(idle)) == [200])
        idle.embeddedEventLoop.advanceTime(by: .seconds(4))  // 8 s: the timer fired at 5 s, 1 s into the idle
        #expect(idle.isActive, "idle for 4 s only")
        idle.embeddedEventLoop.advanceTime(by: .milliseconds(1100))
        #expect(!idle.isActive, "closed 5 s after the last answer")
        // The request clock's timer, set by a request answered at 0 s, times a request
        // begun at 1 s from 1 s.
        let slow = try Self.channel(d.daemon.vault.router(), limits: limits)
        try slow.writeInbound(ByteBuffer(string: Self.health))
        #expect(Self.statuses(try Self.output(slow)) == [200])
        slow.embeddedEventLoop.advanceTime(by: .seconds(1))
        try slow.writeInbound(ByteBuffer(string: "GET /v1/health HTTP/1.1\r\nHo"))
        slow.embeddedEventLoop.advanceTime(by: .milliseconds(1500))  // 2.5 s
        #expect(slow.isActive, "the request has had 1.5 s of its 2 s")
        #expect(try Self.output(slow).isEmpty)
        slow.embeddedEventLoop.advanceTime(by: .milliseconds(600))
        let out = try Self.output(slow)
        #expect(Self.statuses(out) == [408] && out.contains("request_timeout"))
        #expect(!slow.isActive)
        await d.stop()
    }
}
