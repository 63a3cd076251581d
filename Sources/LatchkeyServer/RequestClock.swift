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

    /// From a request's first byte to its end (`SlidingTimeout`: one timer per connection).
    private let clock: SlidingTimeout
    private var expired = false
    private let logger: Logger

    init(timeout: Duration, logger: Logger) {
        self.logger = logger
        clock = SlidingTimeout(timeout)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !expired else { return }
        if !clock.isRunning { clock.restart(on: context.eventLoop) { [self] in expire(context) } }
        context.fireChannelRead(data)
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
        clock.stop()
    }

    func channelInactive(context: ChannelHandlerContext) {
        clock.cancel()
        context.fireChannelInactive()
    }
}
