internal import NIOCore
internal import NIOHTTP1
import Logging
import Foundation
import LatchkeyCore

/// One connection's HTTP handling: limits, peer credentials, dispatch, keep-alive.
final class HTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let router: Router
    private let limits: ServerLimits
    private let logger: Logger
    private let requestIDs: RequestIDGenerator
    private let peerSource: any PeerCredentialSource
    private var peer: PeerCredentials?
    private var head: HTTPRequestHead?
    private var body: ByteBuffer?
    private var refusing = false
    /// This request's body limit: the server's, or its route's own once the body passes it.
    private var bodyLimit = 0
    private var routeLimitChecked = false
    private let clock: RequestClock
    /// Nothing in flight and no request begun: closed after `idleTimeout`.
    private let idle: SlidingTimeout
    private var inFlight = false
    /// The client half-closed: the request in flight is answered, then the connection closed.
    private var inputClosed = false

    init(
        router: Router, limits: ServerLimits, logger: Logger, requestIDs: RequestIDGenerator, clock: RequestClock,
        peerSource: any PeerCredentialSource = KernelPeerCredentials()
    ) {
        self.clock = clock
        idle = SlidingTimeout(.seconds(limits.idleTimeout.components.seconds))
        self.peerSource = peerSource
        self.router = router
        self.limits = limits
        self.logger = logger
        self.requestIDs = requestIDs
    }

    func channelActive(context: ChannelHandlerContext) {
        // Peer credentials once per connection, when it becomes active.
        peer = peerSource.credentials(of: context.channel)
        armIdle(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        idle.cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            idle.stop()
            head = h
            body = nil
            refusing = false
            bodyLimit = limits.maxBodyBytes
            routeLimitChecked = false
            var headerBytes = 0
            for (name, value) in h.headers { headerBytes += name.utf8.count + value.utf8.count }
            if h.headers.count > limits.maxHeaderCount || headerBytes > limits.maxHeaderBytes {
                refuse(context: context, APIError(.headersTooLarge,
                    "request headers exceed \(limits.maxHeaderBytes) bytes or \(limits.maxHeaderCount) fields"))
                return
            }
            if let len = h.headers.first(name: "content-length").flatMap(Int.init), len > bodyLimit {
                raiseToRouteLimit(h)
                if len > bodyLimit { refuse(context: context, tooLarge) }
            }
        case .body(var part):
            guard !refusing else { return }
            if (body?.readableBytes ?? 0) + part.readableBytes > bodyLimit {
                if let h = head { raiseToRouteLimit(h) }
                if (body?.readableBytes ?? 0) + part.readableBytes > bodyLimit {
                    refuse(context: context, tooLarge)
                    return
                }
            }
            if body == nil { body = part } else { body!.writeBuffer(&part) }
        case .end:
            clock.stop()
            guard !refusing, let h = head else { return }
            head = nil
            dispatch(context: context, head: h, body: body ?? ByteBuffer())
            body = nil
        }
    }

    private var tooLarge: APIError {
        APIError(.bodyTooLarge, "request body exceeds \(bodyLimit) bytes")
    }

    /// A route with a larger limit of its own (webhook deliveries) gets it, for a peer in
    /// one of its roles; asked once.
    private func raiseToRouteLimit(_ h: HTTPRequestHead) {
        guard !routeLimitChecked else { return }
        routeLimitChecked = true
        guard let peer else { return }
        if let own = router.maxBodyBytes(method: RequestMethod(rawValue: h.method.rawValue), uri: h.uri, peer: peer), own > bodyLimit { bodyLimit = own }
    }

    private func dispatch(context: ChannelHandlerContext, head: HTTPRequestHead, body: ByteBuffer) {
        guard let peer else {
            // Without the kernel's word on the peer nothing is answered.
            refuse(context: context, APIError(.noPeerCredentials))
            return
        }
        let request = Request(
            method: RequestMethod(rawValue: head.method.rawValue), uri: head.uri, headers: head.headers.map { (name: $0.name, value: $0.value) },
            body: body, peer: peer, requestID: requestIDs.next())
        let keepAlive = head.isKeepAlive
        let version = head.version
        inFlight = true
        let loop = context.eventLoop
        let started = ContinuousClock.now
        let matched = router.match(method: request.method, path: request.path)
        let timer = router.timer(for: matched)
        let answer = router.respondOnLoop(request, matched: matched, on: loop) ?? Self.run(router, request, matched: matched, on: loop)
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        answer.whenComplete { result in
            let (handler, context) = bound.value
            let response = (try? result.get()) ?? .error(.internalFault)
            timer.record(since: started)
            handler.inFlight = false
            handler.write(context: context, response: response, version: version, keepAlive: keepAlive, requestID: request.requestID)
        }
    }

    /// The router's full path in a task of its own.
    private static func run(_ router: Router, _ request: Request, matched: Router.Match, on loop: any EventLoop) -> EventLoopFuture<Response> {
        let promise = loop.makePromise(of: Response.self)
        promise.completeWithTask { await router.respond(request, matched: matched) }
        return promise.futureResult
    }

    private func write(context: ChannelHandlerContext, response: Response, version: HTTPVersion, keepAlive: Bool, requestID: String) {
        if let stream = response.stream {
            return writeStreamed(context: context, response: response, stream: stream, version: version, keepAlive: keepAlive, requestID: requestID)
        }
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: response.contentType)
        headers.add(name: "content-length", value: String(response.body.readableBytes))
        headers.add(name: "x-request-id", value: requestID)
        for (name, value) in response.headers { headers.add(name: name, value: value) }
        if !keepAlive { headers.add(name: "connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: HTTPResponseStatus(statusCode: response.status), headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(response.body))), promise: nil)
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if response.holdsSecret {
            // Written (or failed) once the end's write completes: then the bytes are ours
            // alone, and zeroed where they were.
            let secretBody = response.body
            done.whenComplete { _ in SecretBodyWipe.wipe(secretBody) }
        }
        // Writing the end may deliver the next pipelined request (and the half-close)
        // re-entrantly: close only when nothing is left in flight.
        if !keepAlive || (inputClosed && !inFlight) {
            done.whenComplete { _ in context.close(promise: nil) }
        } else {
            armIdle(context: context)
        }
    }

    /// A streamed answer: the head, then each chunk the producer writes (it waits for each
    /// write to complete, so a slow reader slows the producer instead of filling memory),
    /// then the end. A producer that fails part way cannot change the status any more: the
    /// connection is closed, so the client sees a truncated body, never a complete-looking one.
    private func writeStreamed(
        context: ChannelHandlerContext, response: Response, stream: @escaping Response.BodyStream, version: HTTPVersion, keepAlive: Bool,
        requestID: String
    ) {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: response.contentType)
        headers.add(name: "transfer-encoding", value: "chunked")
        headers.add(name: "x-request-id", value: requestID)
        if !keepAlive { headers.add(name: "connection", value: "close") }
        inFlight = true
        context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: HTTPResponseStatus(statusCode: response.status), headers: headers))), promise: nil)
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        let logger = logger
        Task {
            do {
                try await stream { chunk in
                    try await loop.flatSubmit {
                        let (handler, context) = bound.value
                        return context.writeAndFlush(handler.wrapOutboundOut(.body(.byteBuffer(chunk))))
                    }.get()
                }
                try await loop.submit {
                    let (handler, context) = bound.value
                    handler.inFlight = false
                    let done = context.writeAndFlush(handler.wrapOutboundOut(.end(nil)))
                    if !keepAlive || handler.inputClosed {
                        done.whenComplete { _ in context.close(promise: nil) }
                    } else {
                        handler.armIdle(context: context)
                    }
                }.get()
            } catch {
                logger.error("streamed answer cut off", metadata: ["request": "\(requestID)", "error": "\(error)"])
                loop.execute {
                    let (handler, context) = bound.value
                    handler.inFlight = false
                    context.close(promise: nil)
                }
            }
        }
    }

    /// Answers an over-limit or malformed request once, then closes the connection. Its
    /// audit row is written as every refusal's is (`Router.auditAdapterRefusal`).
    private func refuse(context: ChannelHandlerContext, _ error: APIError) {
        guard !refusing else { return }
        refusing = true
        clock.stop()
        let requestID = requestIDs.next()
        logger.notice("request refused", metadata: ["code": "\(error.code.rawValue)", "peer": "\(peer.map(\.description) ?? "?")", "request": "\(requestID)"])
        router.auditAdapterRefusal(error, peer: peer, requestID: requestID)
        let response = Response.error(error)
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: response.contentType)
        headers.add(name: "content-length", value: String(response.body.readableBytes))
        headers.add(name: "x-request-id", value: requestID)
        headers.add(name: "connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: response.status), headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(response.body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
    }

    private func armIdle(context: ChannelHandlerContext) {
        idle.restart(on: context.eventLoop) { [self] in
            if !inFlight && head == nil { context.close(promise: nil) }
        }
    }

    /// A client that sends its request and shuts down its write side (`nc -N`,
    /// `shutdown(SHUT_WR)`) still gets its answer; with nothing in flight, it is closed.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is RequestClock.Expired {
            // The clock answered 408 itself (before the decoder saw a whole head); the row
            // is written here, where the connection's peer is known.
            router.auditAdapterRefusal(APIError(.requestTimeout), peer: peer, requestID: requestIDs.next())
            return
        }
        guard case ChannelEvent.inputClosed = event else { return context.fireUserInboundEventTriggered(event) }
        inputClosed = true
        if !inFlight && head == nil { context.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A request cut off by its clock ends mid-head: that is not a second refusal.
        if error is HTTPParserError && !clock.hasExpired {
            refuse(context: context, APIError(.badHTTP))
        } else {
            context.close(promise: nil)
        }
    }
}

