/// The policy in force: pure in-memory lookups, deny by default.
public struct Policy: Sendable {
    public let admins: IdentitySet
    public let auditors: IdentitySet
    public let runners: [RunnerRule]
    /// The files it was loaded from.
    public let files: [String]

    /// Denies everything.
    public static let empty = Policy(admins: IdentitySet(), auditors: IdentitySet(), runners: [], files: [])

    init(admins: IdentitySet, auditors: IdentitySet, runners: [RunnerRule], files: [String]) {
        self.admins = admins
        self.auditors = auditors
        self.runners = runners
        self.files = files
    }

    public func isAdmin(_ peer: PeerIdentity) -> Bool { admins.contains(peer) }
    public func isAuditor(_ peer: PeerIdentity) -> Bool { auditors.contains(peer) }
    public func isRunner(_ peer: PeerIdentity) -> Bool { runners.contains { $0.who.contains(peer) } }

    /// The rule that lets `peer` open sessions for `project`, if any. The loader refuses
    /// overlapping rules, so at most one can match.
    public func runnerRule(for peer: PeerIdentity, project: String) -> RunnerRule? {
        runners.first { $0.who.contains(peer) && $0.covers(project: project) }
    }

    /// Loads every *.yaml / *.yml file of `directory`; see `PolicyLoader`.
    public static func load(directory: String, daemonUID: UInt32, resolver: some IdentityResolver = SystemIdentityResolver()) throws(PolicyError) -> Policy {
        try PolicyLoader(daemonUID: daemonUID, resolver: resolver).load(directory: directory)
    }
}
