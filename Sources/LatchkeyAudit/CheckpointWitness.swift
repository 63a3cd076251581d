import Foundation

/// Where each checkpoint goes, off the store, as it is signed (`serve --checkpoint-witness`):
/// appended to a file (synced; ideally on another host's mount, or append-only for the
/// daemon's user), or sent to syslog (auth facility), which a log shipper takes off the
/// host. At start-up the daemon holds the store to the newest checkpoint its witness file
/// has, so a store cut back past it is refused.
package enum CheckpointWitness: Sendable, Equatable {
    case file(path: String)
    case syslog

    /// `PATH` or `syslog`.
    package init(argument: String) {
        self = argument == "syslog" ? .syslog : .file(path: argument)
    }

    /// Longest tail of a witness file read at start-up for its newest checkpoint.
    static let tailBytes = 64 * 1024

    /// Writes one line; returns an error message when it could not.
    func record(_ line: String) -> String? {
        switch self {
        case .syslog:
            line.withCString { p in withVaList([p]) { vsyslog(LOG_AUTH | LOG_NOTICE, "%s", $0) } }
            return nil
        case .file(let path):
            let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard fd >= 0 else { return "cannot open the checkpoint witness \(path): \(String(cString: strerror(errno)))" }
            defer { close(fd) }
            let bytes = Array((line + "\n").utf8)
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) }
            guard written == bytes.count, fsync(fd) == 0 else {
                return "cannot write the checkpoint witness \(path): \(String(cString: strerror(errno)))"
            }
            return nil
        }
    }

    /// The newest checkpoint line of a witness file (nil when there is none yet).
    func newest(publicKey: [UInt8]) throws -> ExpectedCheckpoint? {
        guard case .file(let path) = self else { return nil }
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw AuditError.witness("cannot read the checkpoint witness \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        let size = lseek(fd, 0, SEEK_END)
        let from = max(0, size - off_t(Self.tailBytes))
        var bytes = [UInt8](repeating: 0, count: Int(size - from))
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, from) }
        guard n == bytes.count else { throw AuditError.witness("cannot read the checkpoint witness \(path)") }
        if from > 0, let nl = bytes.firstIndex(of: 10) { bytes.removeSubrange(...nl) }  // a partial first line
        do {
            return try CheckpointLine.parseAll(bytes, publicKey: publicKey, source: "witness \(path)").last
        } catch {
            throw AuditError.witness("the checkpoint witness \(path) is damaged: \(error)")
        }
    }
}
