import Foundation

/// Where the fleet's PostgreSQL database is and how to reach it: a
/// `postgresql://USER@HOST:PORT/DB?sslmode=…&sslrootcert=CA.pem` URL (also `postgres://`),
/// read as libpq reads its connection URIs, minus what a daemon must not take from one.
///
/// - A password in the URL is refused: argv and `LATCHKEY_DATABASE` are visible to other
///   users and land in logs. It comes from `--database-password-file` or libpq's
///   `PGPASSFILE` (`PostgresPassword`).
/// - Only TCP hosts (a name, an IPv4 address or a bracketed IPv6 one); no socket paths,
///   no multiple hosts.
/// - `sslmode` as libpq reads it: `disable`, `prefer`, `require`, `verify-ca`, `verify-full`
///   (`allow` is refused: it sends the password in the clear to a server that does not ask
///   for TLS). The default is `verify-full` for every host but loopback, where it is libpq's
///   own default `prefer` (TLS when the server offers it). `require` with an `sslrootcert`
///   verifies the chain like `verify-ca`, as libpq does. `sslrootcert` names a PEM file of
///   CA certificates; without it the system's trust store is used.
/// - Unknown query parameters are refused, like libpq does, so a misspelt `sslmode` never
///   silently means the default.
package struct PostgresLocation: Sendable, Equatable, CustomStringConvertible {
    package enum SSLMode: String, Sendable, CaseIterable {
        case disable, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    package let user: String
    package let host: String
    package let port: Int
    package let database: String
    package let sslMode: SSLMode
    /// Whether `sslmode` was written in the URL (false: the default for the host).
    package let sslModeExplicit: Bool
    package let sslRootCert: String?
    /// `connect_timeout` in seconds (libpq's: 0 or absent = the client's default).
    package let connectTimeoutSeconds: Int?
    package let applicationName: String?

    package static let defaultPort = 5432
    /// Longest URL accepted (far beyond any real one; a bound on hostile input).
    package static let maximumLength = 4096
    private static let knownParameters = ["sslmode", "sslrootcert", "connect_timeout", "application_name"]

    /// Whether `host` is this machine's loopback (`localhost`, 127.0.0.0/8, `::1`).
    package var isLoopback: Bool { Self.isLoopback(host) }

    /// The mode actually used: `require` with a root certificate verifies the chain.
    package var effectiveSSLMode: SSLMode {
        sslMode == .require && sslRootCert != nil ? .verifyCA : sslMode
    }

    /// The URL without anything secret (there is none in it: a password is refused).
    package var description: String {
        let h = host.contains(":") ? "[\(host)]" : host
        var query = ["sslmode=\(sslMode.rawValue)"]
        if let c = sslRootCert { query.append("sslrootcert=\(c)") }
        if let t = connectTimeoutSeconds { query.append("connect_timeout=\(t)") }
        if let a = applicationName { query.append("application_name=\(a)") }
        return "postgresql://\(user)@\(h):\(port)/\(database)?" + query.joined(separator: "&")
    }

    /// Whether `text` is a PostgreSQL URL at all (as opposed to a SQLite location).
    package static func looksLikePostgres(_ text: String) -> Bool {
        text.hasPrefix("postgresql://") || text.hasPrefix("postgres://")
    }

    package init(
        user: String, host: String, port: Int = defaultPort, database: String, sslMode: SSLMode? = nil, sslRootCert: String? = nil,
        connectTimeoutSeconds: Int? = nil, applicationName: String? = nil
    ) {
        self.user = user
        self.host = host
        self.port = port
        self.database = database
        self.sslMode = sslMode ?? (Self.isLoopback(host) ? .prefer : .verifyFull)
        self.sslModeExplicit = sslMode != nil
        self.sslRootCert = sslRootCert
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.applicationName = applicationName
    }

    /// Parses a URL; every refusal says what was wrong and what to write instead.
    package init(parsing text: String) throws(PostgresLocationError) {
        guard text.utf8.count <= Self.maximumLength else { throw .invalid("the database URL is longer than \(Self.maximumLength) bytes") }
        guard !text.unicodeScalars.contains(where: { $0.value < 0x21 || $0.value == 0x7f }) else {
            throw .invalid("the database URL contains a space or a control character; percent-encode it (%20)")
        }
        let rest: Substring
        if text.hasPrefix("postgresql://") {
            rest = text.dropFirst("postgresql://".count)
        } else if text.hasPrefix("postgres://") {
            rest = text.dropFirst("postgres://".count)
        } else {
            throw .invalid("the database URL must start with postgresql:// (postgresql://USER@HOST:PORT/DB?sslmode=verify-full)")
        }
        // authority / path ? query   (no fragment in libpq URIs)
        guard !rest.contains("#") else { throw .invalid("the database URL has a fragment (#…); percent-encode # as %23") }
        let (beforeQuery, queryPart) = Self.split(rest, at: "?")
        let (authority, pathPart) = Self.split(beforeQuery, at: "/")

        // user@host:port — a password (user:password@) is refused outright.
        guard let at = authority.lastIndex(of: "@") else {
            throw .invalid("the database URL names no user; write postgresql://USER@HOST:PORT/DB")
        }
        let userInfo = authority[..<at]
        let hostPort = authority[authority.index(after: at)...]
        if userInfo.contains(":") || userInfo.contains("@") {
            throw .passwordInURL
        }
        let user = try Self.decode(userInfo, what: "user")
        guard !user.isEmpty else { throw .invalid("the database URL names no user; write postgresql://USER@HOST:PORT/DB") }

        var host: String
        var portText: Substring?
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { throw .invalid("the database URL's IPv6 address has no closing ]") }
            host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            let after = hostPort[hostPort.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw .invalid("the database URL has text after its IPv6 address's ]; write [ADDRESS]:PORT") }
                portText = after.dropFirst()
            }
            guard !host.isEmpty, host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }), host.contains(":") else {
                throw .invalid("the database URL's bracketed host is not an IPv6 address")
            }
        } else {
            let (h, p) = Self.split(hostPort, at: ":")
            if hostPort.contains(",") {
                throw .invalid("the database URL names several hosts; Latchkey connects to one (put a proxy or the primary's address)")
            }
            host = try Self.decode(h, what: "host")
            portText = p
            if host.hasPrefix("/") { throw .invalid("the database URL's host is a socket directory; Latchkey connects over TCP (name a host)") }
            guard host.unicodeScalars.allSatisfy({ $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-._".unicodeScalars.contains($0)) })
            else { throw .invalid("the database URL's host \"\(host.prefix(64))\" is not a host name or address") }
        }
        guard !host.isEmpty else { throw .invalid("the database URL names no host; write postgresql://USER@HOST:PORT/DB") }
        var port = Self.defaultPort
        if let p = portText {
            guard !p.isEmpty, p.count <= 5, p.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(p), (1...65535).contains(n) else {
                throw .invalid("the database URL's port \"\(p.prefix(16))\" is not a number from 1 to 65535")
            }
            port = n
        }

        // Path: the database name (default: the user's name, as libpq).
        var database = user
        if let path = pathPart, !path.isEmpty {
            guard !path.contains("/") else { throw .invalid("the database URL's path must be one database name (/DB)") }
            database = try Self.decode(path, what: "database name")
            guard !database.isEmpty else { throw .invalid("the database URL's database name is empty") }
        }

        // Query parameters, each at most once.
        var params: [String: String] = [:]
        if let query = queryPart, !query.isEmpty {
            for pair in query.split(separator: "&", omittingEmptySubsequences: false) {
                guard let eq = pair.firstIndex(of: "=") else {
                    throw .invalid("the database URL's parameter \"\(pair.prefix(40))\" has no value; write NAME=VALUE")
                }
                let name = try Self.decode(pair[..<eq], what: "parameter name")
                let value = try Self.decode(pair[pair.index(after: eq)...], what: "parameter \(name)")
                if name == "password" || name == "passfile" { throw .passwordInURL }
                guard Self.knownParameters.contains(name) else {
                    throw .invalid(
                        "the database URL's parameter \"\(name.prefix(40))\" is not one Latchkey reads (\(Self.knownParameters.joined(separator: ", ")))")
                }
                guard params[name] == nil else { throw .invalid("the database URL gives \(name) twice") }
                params[name] = value
            }
        }
        var mode: SSLMode?
        if let m = params["sslmode"] {
            if m == "allow" {
                throw .invalid("sslmode=allow is not supported (it sends the password in the clear unless the server insists on TLS); use prefer, require or verify-full")
            }
            guard let parsed = SSLMode(rawValue: m) else {
                throw .invalid("sslmode \"\(m.prefix(40))\" is not one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            mode = parsed
        }
        var rootCert: String?
        if let c = params["sslrootcert"] {
            guard !c.isEmpty else { throw .invalid("sslrootcert is empty; name a PEM file of CA certificates") }
            guard c != "system" else {
                throw .invalid("sslrootcert=system: leave sslrootcert out to use the system's trust store")
            }
            rootCert = c
        }
        if mode == .disable, rootCert != nil { throw .invalid("sslmode=disable with an sslrootcert: choose verify-full (or drop sslrootcert)") }
        var timeout: Int?
        if let t = params["connect_timeout"] {
            guard t.count <= 6, let n = Int(t), n >= 0 else { throw .invalid("connect_timeout \"\(t.prefix(16))\" is not a number of seconds") }
            timeout = n == 0 ? nil : max(n, 2)  // libpq: values below 2 mean 2
        }
        self.init(
            user: user, host: host, port: port, database: database, sslMode: mode, sslRootCert: rootCert, connectTimeoutSeconds: timeout,
            applicationName: params["application_name"])
    }

    private static func isLoopback(_ host: String) -> Bool {
        let h = host.lowercased()
        if h == "localhost" || h == "::1" || h == "0:0:0:0:0:0:0:1" { return true }
        let parts = h.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }

    private static func split(_ s: Substring, at c: Character) -> (Substring, Substring?) {
        guard let i = s.firstIndex(of: c) else { return (s, nil) }
        return (s[..<i], s[s.index(after: i)...])
    }

    /// Percent-decoding, refusing malformed escapes, NUL and invalid UTF-8.
    private static func decode(_ s: Substring, what: String) throws(PostgresLocationError) -> String {
        var bytes: [UInt8] = []
        var it = Array(s.utf8)[...]
        while let b = it.popFirst() {
            if b == UInt8(ascii: "%") {
                guard it.count >= 2, let hi = hexValue(it.popFirst()!), let lo = hexValue(it.popFirst()!) else {
                    throw .invalid("the database URL's \(what) has a malformed percent escape (write %XX with two hex digits)")
                }
                bytes.append(hi << 4 | lo)
            } else {
                bytes.append(b)
            }
        }
        guard !bytes.contains(0) else { throw .invalid("the database URL's \(what) contains a NUL byte") }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw .invalid("the database URL's \(what) is not valid UTF-8") }
        guard !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else {
            throw .invalid("the database URL's \(what) contains a control character")
        }
        return text
    }

    private static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): b - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// A database URL or password source that cannot be used. Messages never hold a password.
package enum PostgresLocationError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalid(String)
    case passwordInURL
    case passwordFile(path: String, reason: String)

    package var code: String {
        switch self {
        case .invalid: "database_url_invalid"
        case .passwordInURL: "database_password_in_url"
        case .passwordFile: "database_password_file_unusable"
        }
    }

    package var description: String {
        switch self {
        case .invalid(let m): m
        case .passwordInURL:
            "the database URL holds a password; remove it (URLs end up in argv, the environment and logs) and put it in a file "
                + "given with --database-password-file (mode 0600), or in a libpq password file named by PGPASSFILE "
                + "(lines HOST:PORT:DB:USER:PASSWORD, mode 0600)"
        case .passwordFile(let p, let r): "password file \(p) cannot be used: \(r)"
        }
    }
}
