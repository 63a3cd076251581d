package import LatchkeyCrypto

/// The way requests reach one connection's server: what the adapters need of a client,
/// and nothing about sockets. The real one is `SCMClient` (module LatchkeySCMTransport:
/// async-http-client, TLS, retries, bounds); this module only speaks the servers' APIs
/// over it.
package protocol SCMTransport: Sendable {
    /// The connection every request goes to.
    var connection: SCMConnection { get }

    /// Sends a request (with the transport's retries) and returns the server's final
    /// answer, whatever its status; failures to get one throw. The token, if given, is
    /// sent as `Authorization: Bearer …` to the connection's API host and nowhere else.
    func send(_ request: SCMRequest, token: SecretBytes?) async throws(SCMError) -> SCMResponse
}

extension SCMTransport {
    /// `GitLab gl` — how errors name this connection.
    package var name: String { "\(connection.kind.displayName) \(connection.name)" }

    /// Sends a request and returns the answer if its status is one of `expect`;
    /// any other status becomes the error `failure(_:for:hint:)` describes.
    package func call(_ request: SCMRequest, token: SecretBytes?, expect: Set<Int>, hint: String? = nil) async throws(SCMError) -> SCMResponse {
        let r = try await send(request, token: token)
        guard expect.contains(r.status) else { throw failure(r, for: request, hint: hint) }
        return r
    }

    /// An error for an answer Latchkey did not want: who answered what to which request,
    /// the server's message (≤ 200 characters) and what to do.
    package func failure(_ response: SCMResponse, for request: SCMRequest, hint: String? = nil, code: SCMError.Code? = nil) -> SCMError {
        let status = response.status
        let spent = RetryPolicy.rateLimitReset(response) != nil
        let c: SCMError.Code =
            code
            ?? {
                switch status {
                case 401: .unauthorized
                case 403 where spent: .rateLimited
                case 403: .forbidden
                case 404: .notFound
                case 429: .rateLimited
                case 500...599: .serverError
                default: .rejected
                }
            }()
        let todo: String =
            hint
            ?? {
                switch c {
                case .unauthorized: "the server does not accept the token; put a valid one with `latchkey token put \(connection.name)`"
                case .forbidden: "the token lacks a scope or its user a permission for this; see `latchkey connection verify \(connection.name)`"
                case .notFound: "check the repository's name and that the token's user can see it"
                case .rateLimited: "the server's rate limit is spent; Latchkey tries again later"
                case .serverError: "the server failed; try again later"
                default: "the server refused the request as sent"
                }
            }()
        return SCMError(
            c, "\(name) answered \(status) to \(request.summary) (\(request.purpose)): \(ServerMessage.summary(of: response)) — \(todo)",
            status: status)
    }
}
