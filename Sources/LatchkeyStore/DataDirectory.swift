import Foundation

/// The data directory: created mode 0700, refused when group or others may access it.
package enum DataDirectory {
    package static let databaseName = "latchkey.db"

    /// Creates `path` (mode 0700) if missing, then checks its mode.
    package static func prepare(_ path: String, create: Bool) throws(StoreError) {
        var st = stat()
        if stat(path, &st) != 0 {
            guard errno == ENOENT, create else {
                if errno == ENOENT { throw .notInitialized(path: path) }
                throw .directoryUnusable(path: path, reason: String(cString: strerror(errno)))
            }
            guard mkdir(path, 0o700) == 0 || errno == EEXIST else {
                throw .directoryUnusable(path: path, reason: String(cString: strerror(errno)))
            }
            chmod(path, 0o700)
            guard stat(path, &st) == 0 else {
                throw .directoryUnusable(path: path, reason: String(cString: strerror(errno)))
            }
        }
        // The checks run on the opened directory itself: no symbolic link is followed, and
        // what is checked is what is used.
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ELOOP || errno == ENOTDIR {
                throw .directoryUnusable(path: path, reason: "it is a symbolic link or not a directory; give the directory itself")
            }
            throw .directoryUnusable(path: path, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        guard fstat(fd, &st) == 0 else { throw .directoryUnusable(path: path, reason: String(cString: strerror(errno))) }
        guard st.st_mode & S_IFMT == S_IFDIR else { throw .directoryUnusable(path: path, reason: "not a directory") }
        let me = UInt32(geteuid())
        guard st.st_uid == me || st.st_uid == 0 else {
            throw .directoryUnusable(
                path: path,
                reason: "it belongs to uid \(st.st_uid), who could replace the store; it must belong to the daemon's user (uid \(me)) or root: run `chown \(me) \(path)`")
        }
        let mode = UInt16(st.st_mode & 0o777)
        guard mode & 0o077 == 0 else { throw .directoryExposed(path: path, mode: mode) }
    }
}
