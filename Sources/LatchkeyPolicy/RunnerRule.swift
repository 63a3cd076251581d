/// One `runners:` entry: who may open build sessions, for which projects, carrying
/// what, for how long, and who may redeem them.
///
/// The daemon keeps the rule a session was opened under with the session, so a reload
/// changes new sessions only, and checks redeems against that rule's `mayRedeem`.
package struct RunnerRule: Sendable, Hashable {
    /// The rule's label, unique in the policy; used in errors and audit rows.
    package let name: String
    /// Where the rule is written.
    let location: SourceLocation
    /// The projects sessions may be opened for.
    package let projects: [Glob]
    /// What sessions may carry (`grants`).
    package let grants: Set<Grant>
    /// The longest session a runner may open (`max_ttl`).
    package let maxTTL: Duration
    /// The most redeems a session may have (`max_uses`).
    package let maxUses: Int
    /// Who may open sessions (`who`).
    let runners: IdentitySet
    /// Who may redeem the session tokens (`builds`).
    let builds: IdentitySet
    /// What minted repository tokens may carry (`repo_token`; read-only when absent).
    package var repoToken: RepoTokenCaps = .readOnly

    /// Where the rule is written, `file:line`: for messages and audit rows.
    package var source: String { location.description }

    /// Whether `peer` may redeem a token of a session opened under this rule.
    package func mayRedeem(_ peer: PeerIdentity) -> Bool {
        builds.contains(peer)
    }

    /// Whether one of the rule's globs matches `project`.
    package func covers(project: String) -> Bool {
        projects.contains { $0.matches(project) }
    }

    /// Whether `peer` is one of the rule's runners.
    func admits(_ peer: PeerIdentity) -> Bool {
        runners.contains(peer)
    }
}
