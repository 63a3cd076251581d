/// What a build session may carry. A runner asks for grants when it opens a session;
/// its runner rule says which it may ask for.
///
/// `ssh-cert` is a fresh ed25519 key pair, held in the daemon's memory for the session,
/// with a user certificate signed by the project's connection CA that expires with the
/// session (through the session's agent, or released as a key and certificate file).
///
/// `deploy-key` covers both ways a build can use the project's deploy key: released as
/// an OpenSSH private key, or held by the daemon behind the session's ssh-agent socket.
public enum Grant: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// The project's SSH deploy key (released, or used through the session's agent).
    case deployKey = "deploy-key"
    /// The connection's personal access token.
    case token
    /// An OpenSSH user certificate from the connection's CA, for a key made for this
    /// session alone; valid only while the session lives.
    case sshCert = "ssh-cert"

    public var description: String { rawValue }
}
