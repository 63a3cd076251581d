/// Turns the user and group names in a policy into numbers, once, at load time.
///
/// Evaluation then only compares the peer's uid and gid with sets of numbers; nothing
/// is looked up per request. A change in the system's users or groups takes effect at
/// the next load (SIGHUP).
///
/// A group's members are the users it lists plus the users whose primary group it is
/// (as `id USER` shows them); the loader puts the two together, asking `allUsers()`
/// once per load and only if the policy names a group.
package protocol IdentityResolver: Sendable {
    /// The user with this name, or nil if there is none.
    func user(named name: String) -> UserEntry?
    /// The group with this name and the uids of the users it lists, or nil if there is none.
    func group(named name: String) -> GroupEntry?
    /// Every user's uid and primary gid, for primary-group membership.
    func allUsers() -> [UserEntry]
}

/// A user as the policy needs it: uid and primary gid.
package struct UserEntry: Sendable, Hashable {
    package var uid: UInt32
    package var primaryGID: UInt32

    package init(uid: UInt32, primaryGID: UInt32) {
        self.uid = uid
        self.primaryGID = primaryGID
    }
}

/// A group as the policy needs it: its gid and the uids of the members it lists
/// (`/etc/group`'s fourth field). Users whose primary group it is come from
/// `IdentityResolver.allUsers()`.
package struct GroupEntry: Sendable, Hashable {
    package var gid: UInt32
    package var memberUIDs: Set<UInt32>

    package init(gid: UInt32, memberUIDs: Set<UInt32>) {
        self.gid = gid
        self.memberUIDs = memberUIDs
    }
}
