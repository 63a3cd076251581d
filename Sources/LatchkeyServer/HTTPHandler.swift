internal import NIOCore
internal import NIOHTTP1
import Logging
import Foundation

/// One connection's HTTP handling: limits, peer credentials, dispatch, keep-alive.
final class HTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let router: Router
    private let limits: ServerLimits
    private let logger: Logger
    private let requestIDs: RequestIDGenerator
    private var peer: PeerCredentials?
    private var head: HTTPRequestHead?
    private var body: ByteBuffer?
    private var refusing = false
    private let clock: RequestClock
    private var idleDeadline: Scheduled<Void>?
    private var inFlight = false
    /// The client half-closed: the request in flight is answered, then the connection closed.
    private var inputClosed = false

    init(router: Router, limits: ServerLimits, logger: Logger, requestIDs: RequestIDGenerator, clock: RequestClock) {
        self.clock = clock
        self.router = router
        self.limits = limits
        self.logger = logger
        self.requestIDs = requestIDs
    }

    func channelActive(context: ChannelHandlerContext) {
        // Peer credentials once per connection, when it becomes active. The option is
        // read on the event loop itself, so the future is already complete: no blocking.
        if let provider = context.channel as? any SocketOptionProvider {
            provider.unsafeGetSocketOption(level: .socket, name: .init(rawValue: SO_PEERCRED))
                .whenSuccess { (cred: PeerCredentialsRaw) in
                    self.peer = PeerCredentials(pid: cred.pid, uid: cred.uid, gid: cred.gid)
                }
        }
        armIdle(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        idleDeadline?.cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            idleDeadline?.cancel()
            head = h
            body = nil
            refusing = false
            var headerBytes = 0
            for (name, value) in h.headers { headerBytes += name.utf8.count + value.utf8.count }
            if h.headers.count > limits.maxHeaderCount || headerBytes > limits.maxHeaderBytes {
                refuse(context: context, APIError(status: 431, code: "headers_too_large",
                    "request headers exceed \(limits.maxHeaderBytes) bytes or \(limits.maxHeaderCount) fields"))
                return
            }
            if let len = h.headers.first(name: "content-length").flatMap(Int.init), len > limits.maxBodyBytes {
                refuse(context: context, tooLarge)
            }
        case .body(var part):
            guard !refusing else { return }
            if (body?.readableBytes ?? 0) + part.readableBytes > limits.maxBodyBytes {
                refuse(context: context, tooLarge)
                return
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
        APIError(status: 413, code: "body_too_large", "request body exceeds \(limits.maxBodyBytes) bytes")
    }

    private func dispatch(context: ChannelHandlerContext, head: HTTPRequestHead, body: ByteBuffer) {
        guard let peer else {
            // Without the kernel's word on the peer nothing is answered.
            refuse(context: context, APIError(status: 401, code: "no_peer_credentials", "peer credentials unavailable"))
            return
        }
        let request = Request(
            method: head.method, uri: head.uri, headers: head.headers, body: body, peer: peer,
            requestID: requestIDs.next(clientSupplied: head.headers.first(name: "x-request-id")))
        let keepAlive = head.isKeepAlive
        let version = head.version
        inFlight = true
        let loop = context.eventLoop
        let answer: EventLoopFuture<Response>
        switch router.match(method: request.method, path: request.path) {
        case .found(let route, let params):
            var request = request
            request.parameters = params
            if let onLoop = route.onLoop, let future = onLoop(request, loop) {
                answer = future
            } else {
                answer = Self.run(route.handler, request, on: loop, logger: logger)
            }
        case .wrongMethod:
            answer = loop.makeSucceededFuture(.error(APIError(status: 405, code: "method_not_allowed", "\(request.method) is not allowed on \(request.path)")))
        case .none:
            answer = loop.makeSucceededFuture(.error(.notFound("no route \(request.method) \(request.path.prefix(200))")))
        }
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        answer.whenComplete { result in
            let (handler, context) = bound.value
            let response = (try? result.get()) ?? .error(.internalFault)
            handler.inFlight = false
            handler.write(context: context, response: response, version: version, keepAlive: keepAlive, requestID: request.requestID)
        }
    }

    /// A route's handler in a task of its own; what it throws becomes its answer.
    private static func run(_ handler: @escaping Router.Handler, _ request: Request, on loop: any EventLoop, logger: Logger) -> EventLoopFuture<Response> {
        let promise = loop.makePromise(of: Response.self)
        promise.completeWithTask {
            do {
                return try await handler(request)
            } catch let e as APIError {
                return .error(e)
            } catch {
                logger.error("internal fault", metadata: ["request": "\(request.requestID)", "error": "\(error)"])
                return .error(.internalFault)
            }
        }
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
        if !keepAlive { headers.add(name: "connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: response.status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(response.body))), promise: nil)
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
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
        context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: response.status, headers: headers))), promise: nil)
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

    /// Answers an over-limit or malformed request once, then closes the connection.
    private func refuse(context: ChannelHandlerContext, _ error: APIError) {
        guard !refusing else { return }
        refusing = true
        clock.stop()
        logger.notice("request refused", metadata: ["code": "\(error.code)", "peer": "\(peer.map(\.description) ?? "?")"])
        let response = Response.error(error)
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: response.contentType)
        headers.add(name: "content-length", value: String(response.body.readableBytes))
        headers.add(name: "connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: response.status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(response.body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
    }

    private func armIdle(context: ChannelHandlerContext) {
        idleDeadline?.cancel()
        let timeout = TimeAmount.nanoseconds(Int64(limits.idleTimeout.components.seconds) * 1_000_000_000)
        idleDeadline = context.eventLoop.scheduleTask(in: timeout) {
            if !self.inFlight && self.head == nil { context.close(promise: nil) }
        }
    }

    /// A client that sends its request and shuts down its write side (`nc -N`,
    /// `shutdown(SHUT_WR)`) still gets its answer; with nothing in flight, it is closed.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case ChannelEvent.inputClosed = event else { return context.fireUserInboundEventTriggered(event) }
        inputClosed = true
        if !inFlight && head == nil { context.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A request cut off by its clock ends mid-head: that is not a second refusal.
        if error is HTTPParserError && !clock.hasExpired {
            refuse(context: context, .badRequest("bad_http", "malformed HTTP request"))
        } else {
            context.close(promise: nil)
        }
    }
}

/// `struct ucred` as the kernel lays it out: pid, uid, gid (12 bytes).
struct PeerCredentialsRaw {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

/// Request ids: the client's `X-Request-Id` if short and plain, else a fresh one.
final class RequestIDGenerator: Sendable {
    private let prefix: String
    private let counter = AtomicCounter()

    init() {
        prefix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
    }

    func next(clientSupplied: String?) -> String {
        if let c = clientSupplied, (1...64).contains(c.utf8.count),
            c.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45 || $0 == 95 || $0 == 46 })
        {
            return c
        }
        return "\(prefix)-\(counter.next())"
    }
}
