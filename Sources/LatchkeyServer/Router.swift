public import NIOHTTP1

/// A small router: method + path pattern (`/v1/projects/{name}`) → handler.
/// Literal segments win over parameters; no route gives 404, a wrong method 405.
public struct Router: Sendable {
    public typealias Handler = @Sendable (Request) async throws -> Response

    public struct Route: Sendable {
        public let method: HTTPMethod
        public let pattern: String
        let segments: [Segment]
        let handler: Handler
    }

    enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
    }

    public private(set) var routes: [Route] = []

    public init() {}

    public mutating func add(_ method: HTTPMethod, _ pattern: String, _ handler: @escaping Handler) {
        let segments: [Segment] = pattern.split(separator: "/").map { s in
            s.hasPrefix("{") && s.hasSuffix("}") ? .parameter(String(s.dropFirst().dropLast())) : .literal(String(s))
        }
        routes.append(Route(method: method, pattern: pattern, segments: segments, handler: handler))
    }

    public enum Match {
        case found(Handler, [String: String])
        case wrongMethod
        case none
    }

    /// Most path segments in any route; longer paths are refused before matching.
    static let maxSegments = 8

    public func match(method: HTTPMethod, path: String) -> Match {
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
        if let best { return .found(best.0.handler, best.1) }
        return pathMatched ? .wrongMethod : .none
    }
}
