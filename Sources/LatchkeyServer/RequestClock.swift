internal import NIOCore
internal import Logging

/// Times each request from its first raw byte, before the HTTP decoder has seen a
/// whole head: a client that trickles a byte a second is answered 408 and closed.
/// `HTTPHandler` stops the clock when a request is complete. The cut-off is logged once
/// per connection, and passed down the pipeline as `Expired` for `HTTPHandler` to audit
/// with the connection's peer.
final class RequestClock: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked: used only on its channel's event loop.
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// The user inbound event fired when a request was cut off (its 408 already answered).
    struct Expired {}

    private let timeout: TimeAmount
    /// The connection's one timer. A request only notes when its first byte came
    /// (`started`) and the end clears it; the timer, firing for a request that is already
    /// whole, sets itself for the one in progress (or lapses if none is), so the timer is
    /// not set and cancelled once per request.
    private var deadline: Scheduled<Void>?
    private var started: NIODeadline?
    private var expired = false
    private let logger: Logger

    init(timeout: Duration, logger: Logger) {
        self.logger = logger
        let c = timeout.components
        self.timeout = .nanoseconds(c.seconds * 1_000_000_000 + c.attoseconds / 1_000_000_000)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !expired else { return }
        if started == nil {
            let now = context.eventLoop.now
            started = now
            if deadline == nil { schedule(context, at: now + timeout) }
        }
        context.fireChannelRead(data)
    }

    private func schedule(_ context: ChannelHandlerContext, at when: NIODeadline) {
        deadline = context.eventLoop.scheduleTask(deadline: when) { [self] in
            deadline = nil
            guard let started else { return }  // nothing in progress: the next byte sets it again
            let due = started + timeout
            if context.eventLoop.now < due { return schedule(context, at: due) }
            expire(context)
        }
    }

    private func expire(_ context: ChannelHandlerContext) {
        expired = true
        logger.notice("request refused", metadata: ["code": "request_timeout"])
        context.fireUserInboundEventTriggered(Expired())
        let body = #"{"error":{"code":"request_timeout","message":"the request did not arrive whole in time"}}"#
        let answer = "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\ncontent-length: \(body.utf8.count)\r\nconnection: close\r\n\r\n\(body)"
        context.writeAndFlush(NIOAny(context.channel.allocator.buffer(string: answer))).whenComplete { _ in
            context.close(promise: nil)
        }
    }

    /// Whether this connection was cut off (and its refusal answered and logged).
    var hasExpired: Bool { expired }

    /// The request is whole: the next byte starts a new clock.
    func stop() {
        started = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        context.fireChannelInactive()
    }
}
