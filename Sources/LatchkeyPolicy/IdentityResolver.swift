import Foundation

/// Turns user and group names into ids, once, when a policy loads.
public protocol IdentityResolver: Sendable {
    /// A user's uid and primary gid, or nil if there is no such user.
    func user(named: String) -> (uid: UInt32, gid: UInt32)?
    /// A group's gid and the uids of its members (listed members and users whose
    /// primary group it is), or nil if there is no such group.
    func group(named: String) -> (gid: UInt32, members: Set<UInt32>)?
}

/// The system's user and group databases (`getpwnam_r`, `getgrnam_r`, `getpwent`).
public struct SystemIdentityResolver: IdentityResolver {
    public init() {}

    public func user(named name: String) -> (uid: UInt32, gid: UInt32)? {
        var pwd = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16384)
        guard getpwnam_r(name, &pwd, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return (pwd.pw_uid, pwd.pw_gid)
    }

    public func group(named name: String) -> (gid: UInt32, members: Set<UInt32>)? {
        var grp = Glibc.group()
        var result: UnsafeMutablePointer<Glibc.group>?
        var buffer = [CChar](repeating: 0, count: 65536)
        guard getgrnam_r(name, &grp, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        let gid = grp.gr_gid
        var members = Set<UInt32>()
        if var p = grp.gr_mem {
            while let m = p.pointee {
                if let u = user(named: String(cString: m)) { members.insert(u.uid) }
                p += 1
            }
        }
        // Users whose primary group it is.
        Self.lock.withLock {
            setpwent()
            while let e = getpwent() {
                if e.pointee.pw_gid == gid { members.insert(e.pointee.pw_uid) }
            }
            endpwent()
        }
        return (gid, members)
    }

    private static let lock = NSLock()
}
