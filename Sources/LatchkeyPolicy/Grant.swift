/// What a build session may carry. A runner asks for grants when it opens a session;
/// its runner rule says which it may ask for.
///
/// `ssh-cert` is a fresh ed25519 key pair, held in the daemon's memory for the session,
/// with a user certificate signed by the project's connection CA that expires with the
/// session (through the session's agent, or released as a key and certificate file).
///
/// `deploy-key` covers both ways a build can use the project's deploy key: released as
/// an OpenSSH private key, or held by the daemon behind the session's ssh-agent socket.
/// `deploy-key-agent` is the second way only: the session's agent signs, and the raw key
/// is never released to it (`/v1/session/deploy-key` refuses), so a build that leaks
/// everything it holds leaks no key that outlives its session.
package enum Grant: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// The project's SSH deploy key (released, or used through the session's agent).
    case deployKey = "deploy-key"
    /// The project's SSH deploy key through the session's agent only; never released.
    case deployKeyAgent = "deploy-key-agent"
    /// The connection's personal access token.
    case token
    /// An OpenSSH user certificate from the connection's CA, for a key made for this
    /// session alone; valid only while the session lives.
    case sshCert = "ssh-cert"
    /// A token minted on the project's SCM server for this session alone: scoped to its
    /// one repository, with the permissions the session asked for (capped by the rule's
    /// `repo_token` block), revoked on the server when the session ends.
    case repoToken = "repo-token"

    package var description: String { rawValue }

    /// Whether a session carrying this grant may use the deploy key through its agent.
    package var allowsAgent: Bool { self == .deployKey || self == .deployKeyAgent }
}

extension RunnerRule {
    /// Whether a session under this rule may carry `grant`: a rule that grants the key
    /// may also hand it out through the agent only.
    package func allows(_ grant: Grant) -> Bool {
        grants.contains(grant) || (grant == .deployKeyAgent && grants.contains(.deployKey))
    }
}

extension Set<Grant> {
    /// Whether a session carrying these grants may use its deploy key through its agent.
    package var allowsAgent: Bool { contains(where: \.allowsAgent) }

    /// Whether a session carrying these grants may do what `grant` asks: the agent is
    /// covered by `deploy-key` too; a release only by its own grant.
    package func covers(_ grant: Grant) -> Bool {
        grant == .deployKeyAgent ? allowsAgent : contains(grant)
    }
}
