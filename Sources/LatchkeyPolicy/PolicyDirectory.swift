#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The policy files of a directory: every `*.yaml` and `*.yml` (not hidden, not
/// `*.example`), in byte order of their names, each checked before it is read.
///
/// A policy decides who gets secrets, so whoever can change a policy file can give
/// themselves anything. The directory and every file must therefore belong to root or
/// to the daemon's user and must not be writable by group or others; anything else is
/// refused with the `chmod` / `chown` that fixes it. Files are opened without following
/// a FIFO's wait (`O_NONBLOCK`), checked to be regular files on the open descriptor, and
/// read up to `PolicyLimits.maxFileBytes`.
enum PolicyDirectory {
    struct Source {
        var path: String
        var bytes: [UInt8]
    }

    static func read(_ directory: String, daemonUID: UInt32) throws(PolicyError) -> [Source] {
        func fail(_ code: PolicyError.Code, _ reason: String) -> PolicyError { PolicyError(code, file: directory, reason: reason) }
        var info = stat()
        guard stat(directory, &info) == 0 else {
            throw fail(.directoryUnreadable, "cannot read the policy directory: \(systemError())")
        }
        guard info.st_mode & S_IFMT == S_IFDIR else { throw fail(.directoryUnreadable, "not a directory") }
        try checkOwnership(info, path: directory, daemonUID: daemonUID, isDirectory: true)
        try checkAncestors(of: directory, daemonUID: daemonUID)

        guard let stream = opendir(directory) else {
            throw fail(.directoryUnreadable, "cannot read the policy directory: \(systemError())")
        }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if isPolicyFileName(name) { names.append(name) }
        }
        closedir(stream)
        names.sort { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        guard !names.isEmpty else {
            throw fail(
                .noPolicyFiles,
                "no policy files (*.yaml or *.yml) here, and with no policy everything is denied; copy Policies/default.yaml or write one (see Policies/README.md)")
        }
        guard names.count <= PolicyLimits.maxFiles else {
            throw fail(.tooLarge, "\(names.count) policy files; at most \(PolicyLimits.maxFiles) are read")
        }
        let prefix = directory.hasSuffix("/") ? directory : directory + "/"
        var sources: [Source] = []
        for name in names {
            let path = prefix + name
            sources.append(Source(path: path, bytes: try readFile(path, daemonUID: daemonUID)))
        }
        return sources
    }

    /// `*.yaml` / `*.yml`, not hidden (editors' lock and swap files start with '.').
    static func isPolicyFileName(_ name: String) -> Bool {
        !name.hasPrefix(".") && (name.hasSuffix(".yaml") || name.hasSuffix(".yml"))
    }

    private static func readFile(_ path: String, daemonUID: UInt32) throws(PolicyError) -> [UInt8] {
        func fail(_ code: PolicyError.Code, _ reason: String) -> PolicyError { PolicyError(code, file: path, reason: reason) }
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else { throw fail(.fileUnreadable, "cannot open: \(systemError())") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw fail(.fileUnreadable, "cannot read: \(systemError())") }
        guard info.st_mode & S_IFMT == S_IFREG else { throw fail(.fileUnreadable, "not a regular file") }
        try checkOwnership(info, path: path, daemonUID: daemonUID, isDirectory: false)
        guard info.st_size <= PolicyLimits.maxFileBytes else {
            throw fail(.tooLarge, "\(info.st_size) bytes; a policy file may have at most \(PolicyLimits.maxFileBytes) bytes")
        }
        var bytes = [UInt8](repeating: 0, count: PolicyLimits.maxFileBytes + 1)
        var count = 0
        while count < bytes.count {
            let n = bytes.withUnsafeMutableBytes { systemRead(fd, $0.baseAddress! + count, $0.count - count) }
            if n < 0, errno == EINTR { continue }
            guard n >= 0 else { throw fail(.fileUnreadable, "cannot read: \(systemError())") }
            if n == 0 { break }
            count += n
        }
        // The file grew between fstat and read.
        guard count <= PolicyLimits.maxFileBytes else {
            throw fail(.tooLarge, "more than \(PolicyLimits.maxFileBytes) bytes; a policy file may have at most that")
        }
        return Array(bytes.prefix(count))
    }

    /// Every directory above the policy directory must also belong to root or the daemon's
    /// user and not be writable by others — whoever can write one can swap the policy
    /// directory for their own. A sticky directory owned by root (such as /tmp) is fine:
    /// others cannot rename what they do not own in it.
    static func checkAncestors(of directory: String, daemonUID: UInt32) throws(PolicyError) {
        guard let resolved = realpath(directory, nil) else {
            throw PolicyError(.directoryUnreadable, file: directory, reason: "cannot resolve the policy directory: \(systemError())")
        }
        var path = String(cString: resolved)
        free(resolved)
        while path != "/" && !path.isEmpty {
            path = ParentPath(path: path).parent
            var info = stat()
            guard lstat(path, &info) == 0 else {
                throw PolicyError(.directoryUnreadable, file: path, reason: "cannot read a directory above the policy directory: \(systemError())")
            }
            let owner = UInt32(info.st_uid)
            let mode = info.st_mode & 0o7777
            let stickyRoot = owner == 0 && mode & 0o1000 != 0
            if owner != 0 && owner != daemonUID {
                throw PolicyError(
                    .unsafePermissions, file: path,
                    reason: "this directory above the policy directory belongs to uid \(owner), who could replace the policies; it must belong to root or the daemon's user (uid \(daemonUID))")
            }
            if mode & 0o022 != 0 && !stickyRoot {
                throw PolicyError(
                    .unsafePermissions, file: path,
                    reason: "this directory above the policy directory is writable by others (mode \(String(mode, radix: 8))), who could replace the policies; run `chmod go-w \(path)`")
            }
        }
    }

    private static func checkOwnership(_ info: stat, path: String, daemonUID: UInt32, isDirectory: Bool) throws(PolicyError) {
        let mode = info.st_mode & 0o7777
        let what = isDirectory ? "the policy directory" : "this policy file"
        if mode & 0o022 != 0 {
            throw PolicyError(
                .unsafePermissions, file: path,
                reason:
                    "\(what) is writable by \(mode & 0o020 != 0 ? "its group" : "others") (mode \(String(mode, radix: 8))), so they could change who gets secrets; run `chmod go-w \(path)`")
        }
        let owner = UInt32(info.st_uid)
        if owner != 0, owner != daemonUID {
            throw PolicyError(
                .unsafePermissions, file: path,
                reason:
                    "\(what) belongs to uid \(owner), who could change who gets secrets; it must belong to root or the daemon's user (uid \(daemonUID)): run `chown \(daemonUID) \(path)`")
        }
    }

    /// The parent of an absolute path ("/a/b" → "/a", "/a" → "/").
    private struct ParentPath {
        let path: String
        var parent: String {
            guard let slash = path.lastIndex(of: "/") else { return "/" }
            return slash == path.startIndex ? "/" : String(path[..<slash])
        }
    }

    private static func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
        #if canImport(Glibc)
        Glibc.read(fd, buffer, count)
        #else
        Darwin.read(fd, buffer, count)
        #endif
    }

    private static func systemError() -> String {
        String(cString: strerror(errno))
    }
}
