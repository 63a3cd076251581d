#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Users and groups from the system's databases (`/etc/passwd`, `/etc/group` or
/// whatever NSS is configured to use), through the re-entrant `getpwnam_r` /
/// `getgrnam_r`; a group's listed member names are looked up the same way.
/// `allUsers()` enumerates the user database (`getpwent`); that enumeration has
/// process-wide state, so it runs under a lock. (With NSS sources that do not
/// enumerate, such as some LDAP setups, it sees local users only: list such users in
/// the group, or name them under `users` / `uids`.)
package struct SystemIdentityResolver: IdentityResolver {
    package init() {}

    package func user(named name: String) -> UserEntry? {
        lookUpUser(name)
    }

    package func group(named name: String) -> GroupEntry? {
        guard let (gid, memberNames) = lookUpGroup(name) else { return nil }
        return GroupEntry(gid: gid, memberUIDs: Set(memberNames.compactMap { lookUpUser($0)?.uid }))
    }

    package func allUsers() -> [UserEntry] {
        enumerateUsers()
    }
}

/// Buffers for one entry grow up to this (a group with thousands of members).
private let largestBuffer = 4 << 20
/// `getpwent` keeps its cursor in the process: one enumeration at a time.
private let enumeration = Mutex(())

private func lookUpUser(_ name: String) -> UserEntry? {
    guard !name.isEmpty, !name.utf8.contains(0) else { return nil }
    var buffer = [CChar](repeating: 0, count: 1024)
    var entry = passwd()
    var result: UnsafeMutablePointer<passwd>?
    while true {
        let status = getpwnam_r(name, &entry, &buffer, buffer.count, &result)
        if status == ERANGE, buffer.count < largestBuffer {
            buffer = [CChar](repeating: 0, count: buffer.count * 4)
            continue
        }
        guard status == 0, let found = result else { return nil }
        return UserEntry(uid: UInt32(found.pointee.pw_uid), primaryGID: UInt32(found.pointee.pw_gid))
    }
}

private func lookUpGroup(_ name: String) -> (gid: UInt32, memberNames: [String])? {
    guard !name.isEmpty, !name.utf8.contains(0) else { return nil }
    var buffer = [CChar](repeating: 0, count: 4096)
    var entry = group()
    var result: UnsafeMutablePointer<group>?
    while true {
        let status = getgrnam_r(name, &entry, &buffer, buffer.count, &result)
        if status == ERANGE, buffer.count < largestBuffer {
            buffer = [CChar](repeating: 0, count: buffer.count * 4)
            continue
        }
        guard status == 0, let found = result else { return nil }
        var names: [String] = []
        if var member = found.pointee.gr_mem {
            while let memberName = member.pointee {
                names.append(String(cString: memberName))
                member += 1
            }
        }
        return (UInt32(found.pointee.gr_gid), names)
    }
}

private func enumerateUsers() -> [UserEntry] {
    enumeration.withLock { _ in
        var users: [UserEntry] = []
        setpwent()
        defer { endpwent() }
        while let entry = getpwent() {
            users.append(UserEntry(uid: UInt32(entry.pointee.pw_uid), primaryGID: UInt32(entry.pointee.pw_gid)))
        }
        return users
    }
}
