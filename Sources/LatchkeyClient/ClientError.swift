/// What a client call can fail with.
public enum ClientError: Error, Sendable, CustomStringConvertible {
    /// Nothing answers on the socket (no daemon, wrong path, permission).
    case unreachable(path: String, reason: String)
    /// The daemon answered with an error body.
    case api(status: Int, code: String, message: String)
    /// The answer was not HTTP/JSON we understand.
    case protocolError(String)

    public var description: String {
        switch self {
        case .unreachable(let p, let r):
            "cannot reach the daemon at \(p): \(r); is `latchkey serve` running? (--socket or LATCHKEY_SOCKET)"
        case .api(let status, let code, let message): "\(message) [\(code), HTTP \(status)]"
        case .protocolError(let m): "unexpected answer from the daemon: \(m)"
        }
    }
}
