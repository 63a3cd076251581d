package import NIOCore
package import LatchkeyAudit

/// One route of the API: what it is, who may call it, what it is audited as, what it
/// takes and answers, and the function that handles it. Every endpoint is an entry in
/// `EndpointTable`; the `Router` runs every request through the same steps, so an
/// endpoint cannot skip authorization or its audit row.
package struct Endpoint: Sendable {
    /// Who may call an endpoint.
    package enum Access: Sendable, Equatable {
        /// Any peer; no audit row (only `/v1/health`, the liveness probe).
        case anyPeerUnaudited
        /// Peers the policy names in one of these roles (the first that matches is the
        /// row's actor role). `.build` means any peer: a build is checked against its
        /// session's rule by the handler.
        case roles([Role])
    }

    package let method: RequestMethod
    /// `/v1/projects/{name}`: literal segments and `{parameter}` segments.
    package let path: String
    package let access: Access
    /// The audit action of its row (nil only for unaudited access).
    package let action: AuditAction?
    /// The request body's type name (`NoBody` for none) and the answer's; the OpenAPI
    /// document names the same schemas.
    package let requestType: String
    package let responseType: String
    /// The status of a successful answer.
    package let status: Int

    /// The handler, given an operation already authorised; decoding and validating the
    /// body is its first step (done by the typed builders below).
    package typealias Handler = @Sendable (Vault, inout Operation) async throws -> Response
    /// Answers on the connection's event loop with no task (the hot path), or declines
    /// with nil and leaves the request to `handler`. It must decide exactly as `handler`
    /// does, and may only take what needs no async step.
    package typealias LoopHandler = @Sendable (Vault, Request, any EventLoop) -> EventLoopFuture<Response>?

    let handler: Handler
    let onLoop: LoopHandler?
    /// Whether it may answer on the event loop (health and the releases).
    package var hasLoopHandler: Bool { onLoop != nil }
    /// Answers an unaudited endpoint (no operation).
    let unaudited: (@Sendable (Vault, Request) -> Response)?
    /// The largest body this route takes, when it is not the server's usual limit
    /// (webhook deliveries are large); nil: the usual one.
    package var maxBodyBytes: Int? = nil

    /// The same endpoint taking bodies up to `bytes`.
    package func bodyLimit(_ bytes: Int) -> Endpoint {
        var e = self
        e.maxBodyBytes = bytes
        return e
    }
}

/// A request with no body (or one the endpoint ignores).
package struct NoBody: Decodable, Sendable {}

extension Endpoint {
    /// An endpoint that decodes `Body` (after authorization) and answers `Answer` as JSON.
    package static func route<Body: Decodable & Sendable, Answer: Encodable & Sendable>(
        _ method: RequestMethod, _ path: String, _ access: Access, _ action: AuditAction,
        body: Body.Type, answer: Answer.Type, status: Int = 200,
        onLoop: LoopHandler? = nil,
        _ handle: @escaping @Sendable (Vault, inout Operation, Body) async throws -> Answer
    ) -> Endpoint {
        Endpoint(
            method: method, path: path, access: access, action: action, requestType: typeName(Body.self),
            responseType: typeName(Answer.self), status: status,
            handler: { vault, op in
                let body = try decodeBody(Body.self, op.request)
                return .json(try await handle(vault, &op, body), status: status)
            }, onLoop: onLoop, unaudited: nil)
    }

    /// An endpoint whose handler builds its own answer bytes (a released secret, an
    /// NDJSON export, a status that depends on the state); `answer` names their schema.
    package static func raw<Body: Decodable & Sendable>(
        _ method: RequestMethod, _ path: String, _ access: Access, _ action: AuditAction,
        body: Body.Type, answer: String, status: Int = 200,
        onLoop: LoopHandler? = nil,
        _ handle: @escaping @Sendable (Vault, inout Operation, Body) async throws -> Response
    ) -> Endpoint {
        Endpoint(
            method: method, path: path, access: access, action: action, requestType: typeName(Body.self), responseType: answer,
            status: status,
            handler: { vault, op in
                let body = try decodeBody(Body.self, op.request)
                return try await handle(vault, &op, body)
            }, onLoop: onLoop, unaudited: nil)
    }

    /// An endpoint that takes no body and answers `Answer` as JSON.
    package static func route<Answer: Encodable & Sendable>(
        _ method: RequestMethod, _ path: String, _ access: Access, _ action: AuditAction, answer: Answer.Type, status: Int = 200,
        _ handle: @escaping @Sendable (Vault, inout Operation) async throws -> Answer
    ) -> Endpoint {
        route(method, path, access, action, body: NoBody.self, answer: answer, status: status) { v, op, _ in try await handle(v, &op) }
    }

    /// An endpoint that takes no body and builds its own answer bytes.
    package static func raw(
        _ method: RequestMethod, _ path: String, _ access: Access, _ action: AuditAction, answer: String, status: Int = 200,
        onLoop: LoopHandler? = nil, _ handle: @escaping @Sendable (Vault, inout Operation) async throws -> Response
    ) -> Endpoint {
        raw(method, path, access, action, body: NoBody.self, answer: answer, status: status, onLoop: onLoop) { v, op, _ in try await handle(v, &op) }
    }

    /// The one unaudited kind of endpoint: answered on the event loop, no peer check.
    package static func unaudited<Answer: Encodable & Sendable>(
        _ method: RequestMethod, _ path: String, answer: Answer.Type, _ handle: @escaping @Sendable (Vault) -> Answer
    ) -> Endpoint {
        Endpoint(
            method: method, path: path, access: .anyPeerUnaudited, action: nil, requestType: typeName(NoBody.self),
            responseType: typeName(Answer.self), status: 200,
            handler: { vault, _ in .json(handle(vault)) },
            onLoop: { vault, _, loop in loop.makeSucceededFuture(.json(handle(vault))) },
            unaudited: { vault, _ in .json(handle(vault)) })
    }

    private static func typeName(_ t: Any.Type) -> String {
        String(describing: t)
    }

    private static func decodeBody<Body: Decodable>(_ type: Body.Type, _ request: Request) throws(APIError) -> Body {
        if Body.self == NoBody.self { return NoBody() as! Body }
        if request.body.readableBytes == 0, let empty = Body.self as? any OptionalBody.Type { return empty.empty as! Body }
        if let strict = Body.self as? any RequestBody.Type { try request.checkFields(strict.fields) }
        let body = try request.decode(Body.self)
        if let v = body as? any RequestBody { try v.validate() }
        return body
    }
}
