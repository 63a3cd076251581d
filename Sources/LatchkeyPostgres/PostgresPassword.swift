package import LatchkeyCrypto
import Foundation

/// The database role's password, from a file only: `--database-password-file` (the whole
/// first line), else the libpq password file `PGPASSFILE` names. Never from the URL, argv or
/// the environment itself. Held in guarded memory; cannot be printed or compared.
package enum PostgresPassword {
    /// Longest password file read (a bound on hostile input; libpq's lines are far shorter).
    package static let maximumFileBytes = 64 * 1024

    /// The password for `location`: from `passwordFile` when given (refused unless it is a
    /// regular file without group or other access), else the first matching line of the
    /// file `PGPASSFILE` names (ignored, as libpq does, when it has group or other access or
    /// is not a regular file); nil when neither gives one.
    package static func resolve(
        for location: PostgresLocation, passwordFile: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(PostgresLocationError) -> SecretBytes? {
        if let path = passwordFile {
            var bytes = try read(path, strict: true) ?? []
            defer { wipe(&bytes) }
            let end = bytes.firstIndex(where: { $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") }) ?? bytes.count
            guard end > 0 else { throw .passwordFile(path: path, reason: "its first line is empty; write the password on it") }
            var line = Array(bytes[..<end])
            return try secret(&line, path: path)
        }
        guard let path = environment["PGPASSFILE"], !path.isEmpty else { return nil }
        guard var bytes = try read(path, strict: false) else { return nil }
        defer { wipe(&bytes) }
        guard var found = match(bytes, host: location.host, port: location.port, database: location.database, user: location.user) else {
            return nil
        }
        return try secret(&found, path: path)
    }

    /// The password of the first line of a libpq password file that matches, de-escaped.
    /// Lines are `hostname:port:database:username:password`; each of the first four fields
    /// is a literal or `*`; `\:` and `\\` escape; lines starting with `#` are comments.
    package static func match(_ file: [UInt8], host: String, port: Int, database: String, user: String) -> [UInt8]? {
        let wanted = [Array(host.utf8), Array(String(port).utf8), Array(database.utf8), Array(user.utf8)]
        for rawLine in file.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
            var line = rawLine[...]
            while line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            if line.isEmpty || line.first == UInt8(ascii: "#") { continue }
            var rest = line
            var matched = true
            for field in wanted {
                guard let after = matchField(rest, field) else { matched = false; break }
                rest = after
            }
            guard matched else { continue }
            // The password runs to the first unescaped colon or the end of the line.
            var password: [UInt8] = []
            var i = rest.startIndex
            while i < rest.endIndex, rest[i] != UInt8(ascii: ":") {
                if rest[i] == UInt8(ascii: "\\"), rest.index(after: i) < rest.endIndex { i = rest.index(after: i) }
                password.append(rest[i])
                i = rest.index(after: i)
            }
            return password
        }
        return nil
    }

    /// Matches one field (`*` or the escaped literal) followed by `:`; what follows, or nil.
    private static func matchField(_ s: ArraySlice<UInt8>, _ value: [UInt8]) -> ArraySlice<UInt8>? {
        if s.count >= 2, s[s.startIndex] == UInt8(ascii: "*"), s[s.startIndex + 1] == UInt8(ascii: ":") { return s.dropFirst(2) }
        var i = s.startIndex
        var j = 0
        while i < s.endIndex, s[i] != UInt8(ascii: ":") {
            if s[i] == UInt8(ascii: "\\"), i + 1 < s.endIndex { i += 1 }
            guard j < value.count, s[i] == value[j] else { return nil }
            i += 1
            j += 1
        }
        guard i < s.endIndex, j == value.count else { return nil }
        return s[(i + 1)...]
    }

    /// Reads a password file. `strict`: a file that is unusable is an error; otherwise
    /// (PGPASSFILE) it is ignored as libpq does.
    private static func read(_ path: String, strict: Bool) throws(PostgresLocationError) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard fd >= 0 else {
            if !strict { return nil }
            let reason = errno == ELOOP ? "it is a symbolic link; name the file itself" : String(cString: strerror(errno))
            throw .passwordFile(path: path, reason: reason)
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            if !strict { return nil }
            throw .passwordFile(path: path, reason: "it is not a regular file")
        }
        guard st.st_mode & 0o077 == 0 else {
            if !strict { return nil }
            throw .passwordFile(
                path: path, reason: "it has group or other access (mode \(String(st.st_mode & 0o777, radix: 8))); run `chmod 600 \(path)`")
        }
        guard st.st_size <= maximumFileBytes else {
            if !strict { return nil }
            throw .passwordFile(path: path, reason: "it is larger than \(maximumFileBytes) bytes")
        }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        var got = 0
        while got < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress! + got, $0.count - got) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            got += n
        }
        bytes.removeSubrange(got...)
        return bytes
    }

    private static func secret(_ bytes: inout [UInt8], path: String) throws(PostgresLocationError) -> SecretBytes {
        guard String(validating: bytes, as: UTF8.self) != nil else {
            wipe(&bytes)
            throw .passwordFile(path: path, reason: "the password is not valid UTF-8")
        }
        do { return try SecretBytes(consuming: &bytes) } catch {
            wipe(&bytes)
            throw .passwordFile(path: path, reason: "no secure memory left to hold it")
        }
    }

    private static func wipe(_ bytes: inout [UInt8]) {
        for i in bytes.indices { bytes[i] = 0 }
    }
}
