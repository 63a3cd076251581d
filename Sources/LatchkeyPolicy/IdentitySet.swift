/// A set of Unix identities as a policy names them (`{ users: [...], groups: [...],
/// uids: [...] }`), resolved to numbers at load time.
///
/// A peer is in the set when its uid is one of the named users or uids, or a member of
/// a named group, or when its gid (the primary gid the kernel reports for the
/// connection) is a named group.
struct IdentitySet: Sendable, Hashable {
    /// Named users, listed uids and the members of named groups.
    private(set) var uids: Set<UInt32> = []
    /// Named groups.
    private(set) var gids: Set<UInt32> = []
    /// How each uid or gid came in, for messages: "user ci-runner", "uid 2001",
    /// "group ci (member)"; not part of equality.
    private var origins: [Member: String] = [:]

    enum Member: Hashable {
        case uid(UInt32)
        case gid(UInt32)
    }

    static let nobody = IdentitySet()

    func contains(_ peer: PeerIdentity) -> Bool {
        uids.contains(peer.uid) || gids.contains(peer.gid)
    }

    var isEmpty: Bool { uids.isEmpty && gids.isEmpty }

    mutating func add(uid: UInt32, origin: String) {
        uids.insert(uid)
        if origins[.uid(uid)] == nil { origins[.uid(uid)] = origin }
    }

    mutating func add(gid: UInt32, origin: String) {
        gids.insert(gid)
        if origins[.gid(gid)] == nil { origins[.gid(gid)] = origin }
    }

    mutating func formUnion(_ other: IdentitySet) {
        for uid in other.uids { add(uid: uid, origin: other.origins[.uid(uid)] ?? "uid \(uid)") }
        for gid in other.gids { add(gid: gid, origin: other.origins[.gid(gid)] ?? "gid \(gid)") }
    }

    /// An identity that is in both sets, described for a message, or nil. Two sets share
    /// an identity when a uid is in both (directly or through group membership) or
    /// both name the same group (then any process running with that gid is in both).
    func sharedIdentity(with other: IdentitySet) -> String? {
        if let uid = Self.smallestCommon(uids, other.uids) {
            return "uid \(uid) (\(origins[.uid(uid)] ?? "uid \(uid)"))"
        }
        if let gid = Self.smallestCommon(gids, other.gids) {
            return "gid \(gid) (\(origins[.gid(gid)] ?? "gid \(gid)"))"
        }
        return nil
    }

    /// The smallest number in both sets, without building their intersection: the
    /// conflict check asks this for every pair of rules.
    private static func smallestCommon(_ a: Set<UInt32>, _ b: Set<UInt32>) -> UInt32? {
        let (small, large) = a.count <= b.count ? (a, b) : (b, a)
        var smallest: UInt32?
        for x in small where large.contains(x) {
            if let found = smallest, found <= x { continue }
            smallest = x
        }
        return smallest
    }

    static func == (a: IdentitySet, b: IdentitySet) -> Bool { a.uids == b.uids && a.gids == b.gids }

    func hash(into hasher: inout Hasher) {
        hasher.combine(uids)
        hasher.combine(gids)
    }
}

/// An identity set as written, before names are resolved.
struct IdentityDeclaration: Sendable {
    var users: [Located<String>] = []
    var groups: [Located<String>] = []
    var uids: [Located<UInt32>] = []

    /// The user name that stands for the uid the daemon runs as.
    static let daemonUser = "$daemon"
}
