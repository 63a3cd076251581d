internal import NIOCore
public import NIOHTTP1

/// A small router: method + path pattern (`/v1/projects/{name}`) → handler.
/// Literal segments win over parameters; no route gives 404, a wrong method 405.
public struct Router: Sendable {
    public typealias Handler = @Sendable (Request) async throws -> Response
    /// Answers on the connection's event loop with no task (the hot path), or declines
    /// with nil and leaves the request to the route's `Handler`.
    typealias LoopHandler = @Sendable (Request, any EventLoop) -> EventLoopFuture<Response>?

    public struct Route: Sendable {
        public let method: HTTPMethod
        public let pattern: String
        let segments: [Segment]
        let handler: Handler
        let onLoop: LoopHandler?
    }

    enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
    }

    public private(set) var routes: [Route] = []
    /// Routes with no parameter, by path and method: the hot paths match with one lookup.
    private var literal: [String: [Route]] = [:]

    public init() {}

    public mutating func add(_ method: HTTPMethod, _ pattern: String, _ handler: @escaping Handler) {
        add(method, pattern, onLoop: nil, handler)
    }

    mutating func add(_ method: HTTPMethod, _ pattern: String, onLoop: LoopHandler?, _ handler: @escaping Handler) {
        let segments: [Segment] = pattern.split(separator: "/").map { s in
            s.hasPrefix("{") && s.hasSuffix("}") ? .parameter(String(s.dropFirst().dropLast())) : .literal(String(s))
        }
        let route = Route(method: method, pattern: pattern, segments: segments, handler: handler, onLoop: onLoop)
        routes.append(route)
        if !segments.contains(where: { if case .parameter = $0 { true } else { false } }) {
            literal[pattern, default: []].append(route)
        }
    }

    public enum Match {
        case found(Route, [String: String])
        case wrongMethod
        case none
    }

    /// Most path segments in any route; longer paths are refused before matching.
    static let maxSegments = 8

    public func match(method: HTTPMethod, path: String) -> Match {
        // A route of literals only has the most literals a path of its length can match,
        // so an exact hit is the best match; anything else takes the search below.
        if let hit = literal[path]?.first(where: { $0.method == method }) { return .found(hit, [:]) }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        guard path.hasPrefix("/"), parts.count <= Self.maxSegments else { return .none }
        var pathMatched = false
        var best: (Route, [String: String], Int)?
        for route in routes where route.segments.count == parts.count {
            var params: [String: String] = [:]
            var literals = 0
            var ok = true
            for (seg, part) in zip(route.segments, parts) {
                switch seg {
                case .literal(let l):
                    if l != part { ok = false } else { literals += 1 }
                case .parameter(let name):
                    guard !part.isEmpty, let decoded = String(part).removingPercentEncoding else { ok = false; break }
                    params[name] = decoded
                }
                if !ok { break }
            }
            guard ok else { continue }
            pathMatched = true
            guard route.method == method else { continue }
            if best == nil || literals > best!.2 { best = (route, params, literals) }
        }
        if let best { return .found(best.0, best.1) }
        return pathMatched ? .wrongMethod : .none
    }
}
