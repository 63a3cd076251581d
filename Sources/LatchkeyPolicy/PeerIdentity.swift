/// Who is at the other end of the socket, as the kernel says (`SO_PEERCRED`): the
/// process id, and its effective uid and gid. Only `uid` and `gid` take part in policy
/// decisions; `pid` is carried for the audit log.
public struct PeerIdentity: Sendable, Hashable, CustomStringConvertible {
    public var uid: UInt32
    public var gid: UInt32
    public var pid: Int32

    public init(uid: UInt32, gid: UInt32, pid: Int32) {
        self.uid = uid
        self.gid = gid
        self.pid = pid
    }

    public var description: String { "uid=\(uid) gid=\(gid) pid=\(pid)" }
}
