package import NIOCore
package import LatchkeyAudit
package import LatchkeyStore
import LatchkeyPolicy

/// Runs every request through the same steps: match the endpoint (404 and 405 are
/// audited as `request.refused`) → identify the peer → authorize its role (a refusal is
/// audited) → decode and validate the body (a bad body is audited `failed bad_request`,
/// the field named in the message) → handle → make sure the request's one row is written.
/// `/v1/health` is the one endpoint with no row.
///
/// Matching: literal segments win over parameters; a path of literals only is one
/// dictionary lookup (the hot paths).
package struct Router: Sendable {
    package let endpoints: [Endpoint]
    let vault: Vault
    private let compiled: [Compiled]
    /// Endpoints with no parameter, by path and method: the hot paths match with one lookup.
    private let literal: [String: [Int]]
    /// Endpoints by their number of path segments (a path is compared only with these).
    private let bySegmentCount: [Int: [Int]]
    /// Each endpoint's latency histogram (same order as `endpoints`), and one for the rest.
    private let timers: [RequestTimer]
    private let unmatchedTimer: RequestTimer

    enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
    }

    private struct Compiled: Sendable {
        let segments: [Segment]
    }

    package init(vault: Vault, endpoints: [Endpoint] = EndpointTable.endpoints) {
        self.vault = vault
        self.endpoints = endpoints
        var compiled: [Compiled] = []
        var literal: [String: [Int]] = [:]
        var bySegmentCount: [Int: [Int]] = [:]
        for (i, e) in endpoints.enumerated() {
            let segments: [Segment] = e.path.split(separator: "/").map { s in
                s.hasPrefix("{") && s.hasSuffix("}") ? .parameter(String(s.dropFirst().dropLast())) : .literal(String(s))
            }
            compiled.append(Compiled(segments: segments))
            bySegmentCount[segments.count, default: []].append(i)
            if !segments.contains(where: { if case .parameter = $0 { true } else { false } }) {
                literal[e.path, default: []].append(i)
            }
        }
        self.compiled = compiled
        self.literal = literal
        self.bySegmentCount = bySegmentCount
        timers = endpoints.map { vault.metrics.requestHistogram(method: $0.method.rawValue, pattern: $0.path) }
        unmatchedTimer = vault.metrics.unmatched
    }

    /// The latency histogram a request is counted in: its endpoint's (made once, at start).
    package func timer(for match: Match) -> RequestTimer {
        if case .found(_, _, let index) = match { return timers[index] }
        return unmatchedTimer
    }

    /// What a request's method and path name. The adapter matches each request once and
    /// hands the result to `timer(for:)`, `respondOnLoop` and `respond`.
    package enum Match: Sendable {
        /// The endpoint, its path parameters and its place in `endpoints`.
        case found(Endpoint, [String: String], index: Int)
        /// The path exists with other methods (for `Allow`).
        case wrongMethod(allowed: [RequestMethod])
        case none
    }

    /// Most path segments in any route; longer paths are refused before matching.
    static let maxSegments = 8

    package func match(method: RequestMethod, path: String) -> Match {
        // A route of literals only has the most literals a path of its length can match,
        // so an exact hit is the best match; anything else takes the search below.
        if let hits = literal[path], let hit = hits.first(where: { endpoints[$0].method == method }) { return .found(endpoints[hit], [:], index: hit) }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        guard path.hasPrefix("/"), parts.count <= Self.maxSegments, let candidates = bySegmentCount[parts.count] else { return .none }
        // Among the routes whose segments fit the path, those with the most literal
        // segments name the resource (`…/deploy-keys/revoke` is the revoke route, not a
        // version): one of them with the method is the match, else their methods are `Allow`.
        // Literals are compared first; parameters are decoded only for the routes that fit.
        var fitting: [(index: Int, literals: Int)] = []
        for i in candidates {
            var literals = 0
            var ok = true
            for (seg, part) in zip(compiled[i].segments, parts) {
                switch seg {
                case .literal(let l):
                    if l == part { literals += 1 } else { ok = false }
                case .parameter:
                    // As before the single match: a parameter must be non-empty and decode.
                    if part.isEmpty || (part.contains("%") && String(part).removingPercentEncoding == nil) { ok = false }
                }
                if !ok { break }
            }
            if ok { fitting.append((i, literals)) }
        }
        guard let most = fitting.map(\.literals).max() else { return .none }
        let resource = fitting.filter { $0.literals == most }
        if let hit = resource.first(where: { endpoints[$0.index].method == method }) {
            var params: [String: String] = [:]
            for (seg, part) in zip(compiled[hit.index].segments, parts) {
                guard case .parameter(let name) = seg else { continue }
                guard let decoded = String(part).removingPercentEncoding else { return .none }
                params[name] = decoded
            }
            return .found(endpoints[hit.index], params, index: hit.index)
        }
        var allowed: [RequestMethod] = []
        for r in resource where !allowed.contains(endpoints[r.index].method) { allowed.append(endpoints[r.index].method) }
        return .wrongMethod(allowed: allowed)
    }

    /// The body limit of the route `uri` names, when it has its own (nil: the server's),
    /// for a peer the policy gives one of the route's roles: anyone else keeps the usual
    /// limit, so a larger body cannot be made to sit in memory by a peer the route would
    /// refuse anyway. The adapter asks only for a body over its usual limit, so other
    /// requests never pay for a second match.
    package func maxBodyBytes(method: RequestMethod, uri: String, peer: PeerCredentials) -> Int? {
        let path = String(uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
        guard case .found(let e, _, _) = match(method: method, path: path), let limit = e.maxBodyBytes, case .roles(let roles) = e.access
        else { return nil }
        let identity = PeerIdentity(uid: peer.uid, gid: peer.gid, pid: peer.pid)
        let policy = vault.policy
        return roles.contains { vault.holds($0, identity, in: policy) } ? limit : nil
    }

    /// The hot path: an answer made on the event loop with no task, or nil when the
    /// request needs the full path (`respond`).
    package func respondOnLoop(_ request: Request, on loop: any EventLoop) -> EventLoopFuture<Response>? {
        respondOnLoop(request, matched: match(method: request.method, path: request.path), on: loop)
    }

    /// The hot path for a request already matched.
    package func respondOnLoop(_ request: Request, matched: Match, on loop: any EventLoop) -> EventLoopFuture<Response>? {
        guard case .found(let endpoint, let params, _) = matched, let onLoop = endpoint.onLoop else { return nil }
        var request = request
        request.parameters = params
        return onLoop(vault, request, loop)
    }

    /// The full path, in a task: every step, every row.
    package func respond(_ request: Request) async -> Response {
        await respond(request, matched: match(method: request.method, path: request.path))
    }

    /// The full path for a request already matched (`match(method:path:)`).
    package func respond(_ request: Request, matched: Match) async -> Response {
        var request = request
        let endpoint: Endpoint
        switch matched {
        case .found(let e, let params, _):
            endpoint = e
            request.parameters = params
        case .wrongMethod(let allowed):
            var answer = await refuseUnrouted(
                request, APIError(.methodNotAllowed, "\(request.method) is not allowed on \(Names.printable(String(request.path.prefix(200)))); use \(allowed.map(\.rawValue).joined(separator: ", "))"))
            answer.headers.append((name: "allow", value: allowed.map(\.rawValue).joined(separator: ", ")))
            return answer
        case .none:
            return await refuseUnrouted(request, .notFound("no route \(request.method) \(Names.printable(String(request.path.prefix(200))))"))
        }
        guard case .roles(let roles) = endpoint.access, let action = endpoint.action else {
            return endpoint.unaudited?(vault, request) ?? .error(.internalFault)
        }
        var op = vault.authorizeOperation(
            request, roles: roles, action: action, target: Self.target(of: request), exempt: vault.exemptRole(request, action))
        do {
            if op.actor.role == Role.anonymous.rawValue {
                throw try await op.refuse(vault.notInRole(request, roles))
            }
            // Admin and runner actions: the process that connected must still be the one
            // it was (an inherited or handed-on connection is refused).
            if op.actor.role == Role.admin.rawValue || op.actor.role == Role.runner.rawValue, !request.peer.connectorIsUnchanged {
                throw try await op.refuse(APIError(
                    .peerChanged, "the process that opened this connection (pid \(request.peer.pid)) has exited or changed its uid; connect again"))
            }
            let response = try await endpoint.handler(vault, &op)
            if !op.hasRecorded { try await op.record(.granted) }
            return response
        } catch {
            let refusal: APIError
            if op.hasRecorded {
                refusal = APIError.from(error) ?? .internalFault
                if APIError.from(error) == nil {
                    vault.logger.error("internal fault", metadata: ["action": "\(action.rawValue)", "request": "\(request.requestID)", "error": "\(error)"])
                }
            } else {
                do { refusal = APIError.from(try await op.fail(error)) ?? .internalFault } catch { refusal = APIError.from(error) ?? .internalFault }
            }
            return .error(refusal)
        }
    }

    /// A request no endpoint takes: its row, then its answer.
    private func refuseUnrouted(_ request: Request, _ error: APIError) async -> Response {
        let op = Operation(
            vault: vault, request: request,
            actor: .init(role: .anonymous, uid: request.peer.uid, gid: request.peer.gid, pid: request.peer.pid),
            action: .requestRefused, target: AuditTarget())
        do {
            return .error(try await op.refuse(error))
        } catch {
            return .error(APIError.from(error) ?? .internalFault)
        }
    }

    /// What a row names before the handler knows more: the path's project or connection.
    static func target(of request: Request) -> AuditTarget {
        let p = request.parameters
        if request.path.hasPrefix("/v1/connections/") { return AuditTarget(connection: p["name"]) }
        if request.path.hasPrefix("/v1/projects/") { return AuditTarget(project: p["name"]) }
        return AuditTarget()
    }
}
