import Foundation

/// The master key file: exactly 32 random bytes, mode 0600, owned by the daemon's user.
package enum KeyFile {
    package enum Failure: Error, CustomStringConvertible, Sendable {
        case missing(path: String)
        case exposed(path: String, mode: UInt16)
        case wrongSize(path: String, size: Int)
        case unreadable(path: String, reason: String)
        case exists(path: String)
        case wrongOwner(path: String, owner: UInt32, expected: UInt32)
        case notAFile(path: String)

        package var description: String {
            switch self {
            case .missing(let p): "key file \(p) does not exist; create a store with `latchkey init --key-file \(p)`"
            case .exposed(let p, let m):
                "key file \(p) has mode \(String(m, radix: 8)) and can be read or written by others; run `chmod 600 \(p)`"
            case .wrongSize(let p, let n): "key file \(p) holds \(n) bytes, expected exactly 32; is it the right file?"
            case .unreadable(let p, let r): "key file \(p) cannot be read: \(r)"
            case .exists(let p): "key file \(p) already exists; refusing to overwrite a master key"
            case .wrongOwner(let p, let o, let e):
                "key file \(p) belongs to uid \(o), who could replace the master key; it must belong to the daemon's user (uid \(e)) or root: run `chown \(e) \(p)`"
            case .notAFile(let p): "key file \(p) is a symbolic link or not a regular file; give the path of the file itself"
            }
        }
    }

    /// Reads and checks a key file, on the descriptor it opened (no race between the
    /// check and the read): a symbolic link is not followed, and the file must be a
    /// regular file of the daemon's user or root that group and others cannot access.
    package static func read(path: String) throws -> RootKey {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else {
            if errno == ENOENT { throw Failure.missing(path: path) }
            if errno == ELOOP { throw Failure.notAFile(path: path) }
            throw Failure.unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw Failure.unreadable(path: path, reason: String(cString: strerror(errno))) }
        guard st.st_mode & S_IFMT == S_IFREG else { throw Failure.notAFile(path: path) }
        let me = UInt32(geteuid())
        guard st.st_uid == me || st.st_uid == 0 else { throw Failure.wrongOwner(path: path, owner: UInt32(st.st_uid), expected: me) }
        let mode = UInt16(st.st_mode & 0o777)
        guard mode & 0o077 == 0 else { throw Failure.exposed(path: path, mode: mode) }
        guard st.st_size == RootKey.keyBytes else { throw Failure.wrongSize(path: path, size: Int(st.st_size)) }
        let key = try SecretBytes(count: RootKey.keyBytes) { buf in
            var got = 0
            while got < buf.count {
                let n = Foundation.read(fd, buf.baseAddress! + got, buf.count - got)
                guard n > 0 else { throw Failure.wrongSize(path: path, size: got) }
                got += n
            }
        }
        return RootKey(key: key)
    }

    /// Creates a new key file exclusively with mode 0600 and a fresh random key.
    package static func create(path: String) throws -> RootKey {
        let root = try RootKey.generate()
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            if errno == EEXIST { throw Failure.exists(path: path) }
            throw Failure.unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        fchmod(fd, 0o600)
        try root.key.withUnsafeBytes { k in
            guard write(fd, k.baseAddress!, k.count) == k.count, fsync(fd) == 0 else {
                let reason = String(cString: strerror(errno))
                unlink(path)
                throw Failure.unreadable(path: path, reason: reason)
            }
        }
        return root
    }
}
