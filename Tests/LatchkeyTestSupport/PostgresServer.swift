// A real PostgreSQL server for tests: Debian's `postgresql` package, `initdb` in a temporary
// directory as an unprivileged user (the tests run as root; PostgreSQL refuses to), `pg_ctl`
// on a free loopback port with its socket directory inside the temporary directory, stopped
// and removed afterwards. Optionally with TLS: a CA and a server certificate made with
// `openssl` in the same directory.
public import Foundation
import Synchronization

/// One throwaway PostgreSQL cluster with a `latchkey` database, an owner role (runs the
/// migrations) and a daemon role (what `latchkey serve` logs in as), both with scram
/// passwords. The superuser `postgres` is reachable only over the socket directory (mode
/// 0700, owned by the server's user), with trust: that is how the harness itself talks to it.
public final class PostgresServer: @unchecked Sendable {
    // `@unchecked`: every stored property is a constant except `running`, which only the
    // test that owns the server touches (start/stop are not called concurrently).

    public static let database = "latchkey"
    public static let ownerRole = "latchkey_owner"
    public static let daemonRole = "latchkey_daemon"
    /// The unprivileged user the server runs as (the tests run as root).
    public static let serverUser: (uid: UInt32, gid: UInt32, name: String) = (65534, 65534, "nobody")
    private static let superuser = "postgres"
    private static let startTimeoutSeconds = 30

    public let root: String
    public let port: Int
    public let socketDirectory: String
    public let dataDirectory: String
    public let logPath: String
    /// Whether the server offers TLS (`ssl = on`).
    public let tls: Bool
    /// The CA that signed the server's certificate (PEM), when `tls`.
    public let caPath: String
    /// Another CA the server's certificate does not chain to (for the untrusted-server tests).
    public let otherCAPath: String
    public let ownerPassword: String
    public let daemonPassword: String
    private let bin: String
    private var running = false

    /// Where the PostgreSQL server binaries are: `pg_config --bindir`, else the newest
    /// /usr/lib/postgresql/*/bin with initdb in it; nil when PostgreSQL is not installed.
    public static let binDirectory: String? = {
        let fm = FileManager.default
        let r = runCaptured(["pg_config", "--bindir"])
        let fromConfig = String(decoding: r.out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if r.status == 0, fm.isExecutableFile(atPath: fromConfig + "/initdb") { return fromConfig }
        let versions = (try? fm.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        for v in versions.sorted(by: { (Int($0) ?? 0) > (Int($1) ?? 0) }) {
            let dir = "/usr/lib/postgresql/\(v)/bin"
            if fm.isExecutableFile(atPath: dir + "/initdb") { return dir }
        }
        return nil
    }()

    /// Whether the PostgreSQL tests run: the binaries are there, or CI is set (then a missing
    /// installation fails the tests instead of skipping them).
    public static var testsEnabled: Bool { binDirectory != nil || ProcessInfo.processInfo.environment["CI"] != nil }
    public static let skipMessage =
        "PostgreSQL is not installed (run scripts/install-deps); set CI=true to fail instead of skipping"

    /// Makes, configures and starts a cluster. `tls`: also `ssl = on` with a fresh CA, the
    /// server's certificate naming `certificateNames` (subjectAltName entries).
    public init(tls: Bool = false, certificateNames: [String] = ["DNS:localhost", "IP:127.0.0.1"]) throws {
        guard let bin = Self.binDirectory else {
            throw PostgresServerError("PostgreSQL binaries not found (pg_config --bindir, /usr/lib/postgresql/*/bin): run scripts/install-deps")
        }
        self.bin = bin
        self.tls = tls
        root = "/tmp/lk-pg-\(UUID().uuidString.prefix(8))"
        port = Self.freeLoopbackPort()
        socketDirectory = root + "/sock"
        dataDirectory = root + "/data"
        logPath = root + "/server.log"
        caPath = root + "/tls/ca.pem"
        otherCAPath = root + "/tls/other-ca.pem"
        ownerPassword = Self.randomPassword()
        daemonPassword = Self.randomPassword()
        let (uid, gid, _) = Self.serverUser
        guard mkdir(root, 0o700) == 0, mkdir(socketDirectory, 0o700) == 0, chown(root, uid, gid) == 0, chown(socketDirectory, uid, gid) == 0
        else { throw PostgresServerError("cannot make \(root) for the server's user") }
        let initdb = asServerUser([
            bin + "/initdb", "-D", dataDirectory, "-U", Self.superuser, "--auth=trust", "-E", "UTF8", "--no-locale", "--no-instructions",
        ])
        guard initdb.status == 0 else { throw PostgresServerError("initdb failed: \(String(decoding: initdb.err, as: UTF8.self))") }
        var conf = """

            # Latchkey test harness
            listen_addresses = '127.0.0.1'
            port = \(port)
            unix_socket_directories = '\(socketDirectory)'
            fsync = on
            synchronous_commit = on
            password_encryption = 'scram-sha-256'
            shared_buffers = 16MB
            max_connections = 40

            """
        if tls {
            try makeCertificates(names: certificateNames)
            conf += """
                ssl = on
                ssl_cert_file = '\(root)/tls/server.pem'
                ssl_key_file = '\(root)/tls/server.key'

                """
        }
        try append(conf, to: dataDirectory + "/postgresql.conf")
        // The harness's superuser only over the socket; every role over TCP with its password.
        let hba = """
            local all \(Self.superuser) trust
            local all all scram-sha-256
            host all all 127.0.0.1/32 scram-sha-256

            """
        try hba.write(toFile: dataDirectory + "/pg_hba.conf", atomically: false, encoding: .utf8)
        try start()
        startWatchdog()
        // Roles and database; passwords go in on stdin, never in argv.
        try superuserSQL("""
            CREATE ROLE \(Self.ownerRole) LOGIN PASSWORD '\(ownerPassword)';
            CREATE ROLE \(Self.daemonRole) LOGIN PASSWORD '\(daemonPassword)';
            CREATE DATABASE \(Self.database) OWNER \(Self.ownerRole);
            """)
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: root)
    }

    /// One server shared by the tests of this process that do not stop it or need TLS
    /// (each takes its own database with `createDatabase`); stopped and removed at exit.
    public static func shared() throws -> PostgresServer {
        try sharedServer.withLock { s in
            if let s { return s }
            let server = try PostgresServer()
            s = server
            atexit { PostgresServer.stopShared() }
            return server
        }
    }

    private static let sharedServer = Mutex<PostgresServer?>(nil)

    private static func stopShared() {
        sharedServer.withLock { s in
            s?.stop()
            if let root = s?.root { try? FileManager.default.removeItem(atPath: root) }
        }
    }

    /// Starts the server (again) and waits until it accepts connections.
    public func start() throws {
        let r = asServerUser([bin + "/pg_ctl", "-D", dataDirectory, "-l", logPath, "-w", "-t", String(Self.startTimeoutSeconds), "start"])
        guard r.status == 0 else { throw PostgresServerError("pg_ctl start failed; see \(logPath): \(log.suffix(2000))") }
        running = true
    }

    /// A shell that outlives this process only to stop the server and remove its directory
    /// once this process is gone, however it ended (a crash, a kill, an exit that skipped
    /// the atexit handler): no test leaves a server running.
    private func startWatchdog() {
        let (uid, gid, _) = Self.serverUser
        let script = """
            while kill -0 \(getpid()) 2>/dev/null; do sleep 1; done
            [ -d "$1" ] && setpriv --reuid=\(uid) --regid=\(gid) --clear-groups -- "$2/pg_ctl" -D "$1" -m immediate -w stop
            rm -rf -- "$3"
            """
        _ = spawn(
            ["/bin/bash", "-c", script, "watchdog", dataDirectory, bin, root], environment: ["PATH": "/usr/bin:/bin:/usr/sbin:/sbin"],
            stdoutPath: "/dev/null", stderrPath: "/dev/null")
    }

    /// Stops the server (fast: open connections are ended), waiting until it is down.
    public func stop() {
        guard running else { return }
        _ = asServerUser([bin + "/pg_ctl", "-D", dataDirectory, "-m", "fast", "-w", "stop"])
        running = false
    }

    /// What the server logged.
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// `postgresql://ROLE@127.0.0.1:PORT/DATABASE`, with `query` appended (`sslmode=…`).
    public func url(role: String = PostgresServer.daemonRole, host: String = "127.0.0.1", database: String = PostgresServer.database, query: String? = nil)
        -> String
    {
        "postgresql://\(role)@\(host):\(port)/\(database)" + (query.map { "?" + $0 } ?? "")
    }

    /// A password file (libpq's format, mode 0600) in the server's directory with lines for
    /// `role` on every database (and `password`, by default the role's own).
    public func passfile(role: String = PostgresServer.daemonRole, password: String? = nil) throws -> String {
        let path = root + "/pgpass-\(role)-\(UUID().uuidString.prefix(6))"
        let pw = password ?? (role == Self.ownerRole ? ownerPassword : daemonPassword)
        try "127.0.0.1:\(port):*:\(role):\(pw)\nlocalhost:\(port):*:\(role):\(pw)\n"
            .write(toFile: path, atomically: false, encoding: .utf8)
        chmod(path, 0o600)
        return path
    }

    /// A file holding only `role`'s password (what `--database-password-file` names), mode 0600.
    public func passwordFile(role: String = PostgresServer.daemonRole) throws -> String {
        let path = root + "/password-\(role)-\(UUID().uuidString.prefix(6))"
        try ((role == Self.ownerRole ? ownerPassword : daemonPassword) + "\n").write(toFile: path, atomically: false, encoding: .utf8)
        chmod(path, 0o600)
        return path
    }

    /// A fresh, empty database owned by the owner role (tests sharing one server each take
    /// their own).
    public func createDatabase() throws -> String {
        let name = "latchkey_" + UUID().uuidString.prefix(8).lowercased()
        try superuserSQL("CREATE DATABASE \(name) OWNER \(Self.ownerRole);")
        return name
    }

    /// Runs SQL through `psql` over TCP as `role`, authenticated by its password (from a
    /// password file), stopping at the first error. Status, stdout, stderr.
    public func psql(as role: String, database: String = PostgresServer.database, _ sql: String) throws -> (status: Int32, out: String, err: String) {
        let pass = try passfile(role: role)
        defer { unlink(pass) }
        var env = ProcessInfo.processInfo.environment
        env["PGPASSFILE"] = pass
        let r = runCaptured(
            ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", String(port), "-U", role, "-d", database, "-f", "-"],
            stdin: Data(sql.utf8), environment: env)
        return (r.status, String(decoding: r.out, as: UTF8.self), String(decoding: r.err, as: UTF8.self))
    }

    /// Runs SQL as the superuser over the socket directory, in `database`; throws on error.
    @discardableResult
    public func superuserSQL(_ sql: String, database: String = "postgres") throws -> String {
        let r = runCaptured(
            ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", socketDirectory, "-p", String(port), "-U", Self.superuser, "-d", database, "-f", "-"],
            stdin: Data(sql.utf8))
        guard r.status == 0 else { throw PostgresServerError("psql as superuser failed: \(String(decoding: r.err, as: UTF8.self))") }
        return String(decoding: r.out, as: UTF8.self)
    }

    // MARK: - Helpers

    private func asServerUser(_ argv: [String]) -> (status: Int32, out: Data, err: Data) {
        let (uid, gid, _) = Self.serverUser
        var env = ProcessInfo.processInfo.environment
        env["HOME"] = root
        // The server gets no descriptor but 0-2: it would inherit whatever the test process
        // has open without close-on-exec (a parallel flood test holds thousands), and it
        // refuses to start when too few are left under the limit.
        let closeInherited = #"for f in /proc/$$/fd/*; do n=${f##*/}; [ "$n" -gt 2 ] && eval "exec $n>&-"; done 2>/dev/null; exec "$@""#
        return runCaptured(
            ["/bin/bash", "-c", closeInherited, "bash", "setpriv", "--reuid=\(uid)", "--regid=\(gid)", "--clear-groups", "--"] + argv,
            environment: env, cwd: root)
    }

    private func append(_ text: String, to path: String) throws {
        guard let h = FileHandle(forWritingAtPath: path) else { throw PostgresServerError("cannot open \(path)") }
        h.seekToEndOfFile()
        h.write(Data(text.utf8))
        try h.close()
    }

    /// A CA, a server certificate for localhost / 127.0.0.1 signed by it, and an unrelated CA.
    private func makeCertificates(names: [String]) throws {
        let dir = root + "/tls"
        mkdir(dir, 0o755)
        try "subjectAltName = \(names.joined(separator: ", "))\nbasicConstraints = CA:FALSE\nextendedKeyUsage = serverAuth\n"
            .write(toFile: dir + "/server.ext", atomically: false, encoding: .utf8)
        let steps: [[String]] = [
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", dir + "/ca.key",
             "-out", dir + "/ca.pem", "-days", "2", "-subj", "/CN=Latchkey test PostgreSQL CA"],
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", dir + "/other-ca.key",
             "-out", dir + "/other-ca.pem", "-days", "2", "-subj", "/CN=Some other CA"],
            ["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", dir + "/server.key",
             "-out", dir + "/server.csr", "-subj", "/CN=localhost"],
            ["openssl", "x509", "-req", "-in", dir + "/server.csr", "-CA", dir + "/ca.pem", "-CAkey", dir + "/ca.key", "-CAcreateserial",
             "-out", dir + "/server.pem", "-days", "2", "-extfile", dir + "/server.ext"],
        ]
        for step in steps {
            let r = runCaptured(step)
            guard r.status == 0 else { throw PostgresServerError("\(step[0]) \(step[1]) failed: \(String(decoding: r.err, as: UTF8.self))") }
        }
        // PostgreSQL wants its key owned by the server's user with no group or other access.
        let (uid, gid, _) = Self.serverUser
        for f in ["server.key", "server.pem"] { chown(dir + "/" + f, uid, gid) }
        chmod(dir + "/server.key", 0o600)
    }

    private static func randomPassword() -> String {
        (0..<24).map { _ in String("abcdefghijkmnpqrstuvwxyz23456789".randomElement()!) }.joined()
    }

    /// A free TCP port on loopback (bound to port 0, then released).
    public static func freeLoopbackPort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}

public struct PostgresServerError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
