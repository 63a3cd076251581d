/// A set of Unix identities as a policy names them, resolved to ids at load.
public struct IdentitySet: Sendable, Equatable {
    public private(set) var uids: Set<UInt32> = []
    public private(set) var gids: Set<UInt32> = []

    public init(uids: Set<UInt32> = [], gids: Set<UInt32> = []) {
        self.uids = uids
        self.gids = gids
    }

    public var isEmpty: Bool { uids.isEmpty && gids.isEmpty }

    /// A peer matches by uid (named user, uid, or member of a named group) or by its
    /// primary gid (from SO_PEERCRED) being a named group.
    public func contains(_ peer: PeerIdentity) -> Bool {
        uids.contains(peer.uid) || gids.contains(peer.gid)
    }

    /// Whether one peer could be in both sets.
    func intersects(_ other: IdentitySet) -> Bool {
        !uids.isDisjoint(with: other.uids) || !gids.isDisjoint(with: other.gids)
    }

    mutating func formUnion(_ other: IdentitySet) {
        uids.formUnion(other.uids)
        gids.formUnion(other.gids)
    }
}

/// One runner rule: who may open sessions for which projects, with what.
public struct RunnerRule: Sendable {
    public let name: String
    public let who: IdentitySet
    public let projects: [Glob]
    public let grants: Set<Grant>
    public let maxTTL: Duration
    public let maxUses: Int
    public let builds: IdentitySet
    /// Where the rule is written (`file:line`), for messages.
    public let origin: String

    /// Whether `peer` may redeem the tokens of sessions opened under this rule.
    public func mayRedeem(_ peer: PeerIdentity) -> Bool { builds.contains(peer) }

    public func covers(project: String) -> Bool { projects.contains { $0.matches(project) } }
}
