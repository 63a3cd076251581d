/// Who is at the other end of the socket, as the kernel says (`SO_PEERCRED`): the
/// process id, and its effective uid and gid. Only `uid` and `gid` take part in policy
/// decisions; `pid` is carried for the audit log.
package struct PeerIdentity: Sendable, Hashable, CustomStringConvertible {
    package var uid: UInt32
    package var gid: UInt32
    package var pid: Int32

    package init(uid: UInt32, gid: UInt32, pid: Int32) {
        self.uid = uid
        self.gid = gid
        self.pid = pid
    }

    package var description: String { "uid=\(uid) gid=\(gid) pid=\(pid)" }
}
