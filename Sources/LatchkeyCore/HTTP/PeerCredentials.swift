/// The kernel's word on who is at the other end of a Unix socket (`SO_PEERCRED`): the
/// adapter reads it once per connection; the core decides with it.
package struct PeerCredentials: Sendable, Equatable, CustomStringConvertible {
    package var pid: Int32
    package var uid: UInt32
    package var gid: UInt32

    package init(pid: Int32, uid: UInt32, gid: UInt32) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }

    package var description: String { "pid=\(pid) uid=\(uid) gid=\(gid)" }
}
