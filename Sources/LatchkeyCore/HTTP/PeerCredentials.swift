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
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Self.statusReadLimit) { buffer in
            let fd = open("/proc/\(pid)/status", O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return false }
            defer { close(fd) }
            var filled = 0
            while filled < buffer.count {
                let n = read(fd, buffer.baseAddress! + filled, buffer.count - filled)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { break }
                filled += n
            }
            return Self.statusShowsConnector(UnsafeBufferPointer(rebasing: buffer[..<filled]), uid: uid, gid: gid)
        }
    }

    /// How much of `/proc/PID/status` is read: its State, Uid and Gid lines come within the
    /// first few hundred bytes (the whole file is about 1.5 KiB).
    static let statusReadLimit = 4096

    /// Whether a `/proc/PID/status` text shows a live process whose effective uid and gid
    /// are `uid` and `gid` ("State:\tZ" is exited, not yet reaped). Parsed from the bytes
    /// as they come: this runs on every admin and runner request.
    package static func statusShowsConnector(_ status: UnsafeBufferPointer<UInt8>, uid: UInt32, gid: UInt32) -> Bool {
        var uidOK = false, gidOK = false
        var lineStart = 0
        while lineStart < status.count {
            var lineEnd = lineStart
            while lineEnd < status.count && status[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
            let line = UnsafeBufferPointer(rebasing: status[lineStart..<lineEnd])
            if let state = Self.fields(of: line, after: "State:"), let first = state.first, first.count == 1 {
                if line[first.lowerBound] == UInt8(ascii: "Z") { return false }
            } else if let ids = Self.fields(of: line, after: "Uid:"), ids.count >= 2 {
                uidOK = Self.decimal(line, ids[1]) == uid
            } else if let ids = Self.fields(of: line, after: "Gid:"), ids.count >= 2 {
                gidOK = Self.decimal(line, ids[1]) == gid
            }
            lineStart = lineEnd + 1
        }
        return uidOK && gidOK
    }

    /// The tab- or space-separated fields after `key` when the line starts with it
    /// ("Uid:\treal\teffective\tsaved\tfs"), as ranges of the line; nil for another line.
    private static func fields(of line: UnsafeBufferPointer<UInt8>, after key: StaticString) -> [Range<Int>]? {
        let k = key.utf8CodeUnitCount
        guard line.count > k else { return nil }
        let keyBytes = UnsafeBufferPointer(start: key.utf8Start, count: k)
        for i in 0..<k where line[i] != keyBytes[i] { return nil }
        guard line[k] == UInt8(ascii: "\t") || line[k] == UInt8(ascii: " ") else { return nil }
        var result: [Range<Int>] = []
        var i = k
        while i < line.count {
            while i < line.count && (line[i] == UInt8(ascii: "\t") || line[i] == UInt8(ascii: " ")) { i += 1 }
            let start = i
            while i < line.count && line[i] != UInt8(ascii: "\t") && line[i] != UInt8(ascii: " ") { i += 1 }
            if i > start { result.append(start..<i) }
        }
        return result
    }

    /// A decimal UInt32 spelled by `range` of `line`; nil for anything else (empty, signs,
    /// other bytes, overflow).
    private static func decimal(_ line: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> UInt32? {
        guard !range.isEmpty, range.count <= 10 else { return nil }
        var value: UInt64 = 0
        for i in range {
            let b = line[i]
            guard b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + UInt64(b - UInt8(ascii: "0"))
        }
        return value <= UInt64(UInt32.max) ? UInt32(value) : nil
    }
}
