/// What a build session may carry. A runner asks for grants when it opens a session;
/// its runner rule says which it may ask for.
///
/// `deploy-key` covers both ways a build can use the project's deploy key: released as
/// an OpenSSH private key, or held by the daemon behind the session's ssh-agent socket.
public enum Grant: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// The project's SSH deploy key (released, or used through the session's agent).
    case deployKey = "deploy-key"
    /// The connection's personal access token.
    case token

    public var description: String { rawValue }
}
