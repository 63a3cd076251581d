/// Resolves identity declarations for one load: `$daemon` to the daemon's uid, names
/// through the resolver, and a named group to its gid plus its members, those it lists
/// and those whose primary group it is (from one `allUsers()` scan, done on the first
/// group named and kept for the rest of the load).
struct NameResolution<Resolver: IdentityResolver> {
    let daemonUID: UInt32
    let resolver: Resolver
    private var usersByPrimaryGroup: [UInt32: [UInt32]]?

    init(daemonUID: UInt32, resolver: Resolver) {
        self.daemonUID = daemonUID
        self.resolver = resolver
    }

    /// Looks every name up; an unknown user or group is an error at the line naming it.
    mutating func resolve(_ declaration: IdentityDeclaration) throws(PolicyError) -> IdentitySet {
        var set = IdentitySet()
        for user in declaration.users {
            if user.value == IdentityDeclaration.daemonUser {
                set.add(uid: daemonUID, origin: "$daemon")
            } else if let entry = resolver.user(named: user.value) {
                set.add(uid: entry.uid, origin: "user \(user.value)")
            } else {
                throw PolicyError(
                    .unknownUser, at: user.location,
                    "unknown user \(quoted(user.value)): no such user on this system (create it, fix the name, or name it by uid under 'uids')")
            }
        }
        for group in declaration.groups {
            guard let entry = resolver.group(named: group.value) else {
                throw PolicyError(
                    .unknownGroup, at: group.location,
                    "unknown group \(quoted(group.value)): no such group on this system (create it or fix the name)")
            }
            set.add(gid: entry.gid, origin: "group \(group.value)")
            let members = entry.memberUIDs.union(primaryMembers(of: entry.gid))
            for uid in members.sorted() { set.add(uid: uid, origin: "member of group \(group.value)") }
        }
        for uid in declaration.uids { set.add(uid: uid.value, origin: "uid \(uid.value)") }
        return set
    }

    private mutating func primaryMembers(of gid: UInt32) -> [UInt32] {
        if usersByPrimaryGroup == nil {
            usersByPrimaryGroup = Dictionary(grouping: resolver.allUsers(), by: \.primaryGID).mapValues { $0.map(\.uid) }
        }
        return usersByPrimaryGroup?[gid] ?? []
    }
}
