import Foundation

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

extension PeerCredentials {
    /// Whether the process that connected is still there with the uid and gid it
    /// connected with. `SO_PEERCRED` is fixed at connect: a process that inherits or is
    /// handed the connected socket speaks with the connector's identity, and the kernel
    /// never says so (only `SCM_CREDENTIALS`, which the NIO socket does not read, names
    /// each writer). What can be checked per request is the connector itself: gone
    /// (its socket left to children) or now another uid (it exec'd through setpriv or
    /// su keeping the socket) means the identity is no longer its own. A connector that
    /// is alive and unchanged while sharing its socket cannot be told apart: handing a
    /// connected socket to another process hands it the identity.
    ///
    /// A peer in a pid namespace the daemon cannot see (pid 0) cannot be checked and
    /// passes. Reads `/proc/PID/status` (a few microseconds): admin and runner routes only.
    package var connectorIsUnchanged: Bool {
        guard pid > 0 else { return true }
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return false }
        var uidOK = false, gidOK = false
        for line in status.split(separator: "\n") {
            // "Uid:\treal\teffective\tsaved\tfs": SO_PEERCRED carries the effective ids.
            let fields = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
            guard fields.count >= 2 else { continue }
            if fields[0] == "State:", fields[1] == "Z" { return false }  // exited, not yet reaped
            guard fields.count >= 3 else { continue }
            if fields[0] == "Uid:" { uidOK = UInt32(fields[2]) == uid }
            if fields[0] == "Gid:" { gidOK = UInt32(fields[2]) == gid }
        }
        return uidOK && gidOK
    }
}
