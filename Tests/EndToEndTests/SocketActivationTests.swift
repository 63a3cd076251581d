import Foundation
import LatchkeyTestSupport
import Testing

/// `latchkey serve` under a service manager, without systemd: a listening socket handed
/// over as descriptor 3 with LISTEN_FDS / LISTEN_PID / LISTEN_FDNAMES, and readiness read
/// from a NOTIFY_SOCKET datagram socket the test owns — the sd_listen_fds(3) and
/// sd_notify(3) protocols as systemd speaks them.
@Suite(.serialized) struct SocketActivationTests {
    /// A datagram socket bound to `address` (a path, or `@name` for the abstract namespace).
    final class NotifyListener {
        let fd: Int32
        let address: String

        init(_ address: String) throws {
            self.address = address
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            var bytes = Array(address.utf8)
            let abstract = bytes.first == UInt8(ascii: "@")
            if abstract { bytes[0] = 0 }
            withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes) }
            let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1))
            let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
            guard rc == 0 else { throw FixtureError("cannot bind the notify socket \(address): \(String(cString: strerror(errno)))") }
        }

        /// The next datagram, or nil after `seconds`.
        func next(within seconds: Int = 20) -> String? {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, Int32(seconds * 1000)) == 1 else { return nil }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = recv(fd, &buffer, buffer.count, 0)
            return n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : nil
        }

        deinit { close(fd) }
    }

    /// A listening Unix stream socket at `path`, close-on-exec, never on descriptor 3.
    func listeningSocket(_ path: String) throws -> Int32 {
        var fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd <= 3 {
            let moved = fcntl(fd, F_DUPFD_CLOEXEC, 10)
            close(fd)
            fd = moved
        }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0, listen(fd, 128) == 0 else { throw FixtureError("cannot listen on \(path)") }
        return fd
    }

    /// Starts `argv` with `descriptor` as its fd 3 and LISTEN_PID set to its own pid.
    func spawnActivated(_ argv: [String], descriptor: Int32, environment: [String: String], log: String) -> pid_t? {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, descriptor, 3)
        closeDescriptors(from: 4, in: &actions)  // the listener alone, as a service manager passes it
        // The shell's pid is the daemon's once it execs.
        let full = ["/bin/sh", "-c", #"export LISTEN_PID=$$; exec "$@""#, "sh"] + argv
        let cArgs = full.map { strdup($0) } + [nil]
        let cEnv = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (cArgs + cEnv).forEach { free($0) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, "/bin/sh", &actions, nil, cArgs, cEnv) == 0 else { return nil }
        return pid
    }

    @Test(arguments: ["path", "abstract"])
    func servesOnTheInheritedSocketAndReportsReadyAndStopping(notifyKind: String) throws {
        let d = try DaemonProcess()
        d.stop()
        let activated = d.root + "/activated.sock"
        let listener = try listeningSocket(activated)
        defer { close(listener) }
        let notify = try NotifyListener(notifyKind == "path" ? d.root + "/notify.sock" : "@latchkey-test-\(UUID().uuidString.prefix(8))")
        var env = ProcessInfo.processInfo.environment
        env["LISTEN_FDS"] = "1"
        env["LISTEN_FDNAMES"] = "latchkey"
        env["NOTIFY_SOCKET"] = notify.address
        let log = d.root + "/activated.log"
        let ownSocket = d.root + "/own.sock"
        guard let pid = spawnActivated(
            [latchkeyBinary, "serve", "--data-dir", d.dataDir, "--policies", d.policies, "--socket", ownSocket, "--key-file", d.keyFile],
            descriptor: listener, environment: env, log: log)
        else { throw FixtureError("cannot start latchkey serve") }
        let ready = notify.next()
        #expect(ready?.hasPrefix("READY=1\n") == true, "\(ready ?? "no datagram"): \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        #expect(ready?.contains("STATUS=serving on \(activated)") == true)
        // It answers on the socket it was given and made none of its own.
        let health = sh([latchkeyBinary, "health", "--socket", activated])
        #expect(health.status == 0, "\(health.err)")
        #expect(!FileManager.default.fileExists(atPath: ownSocket))
        // SIGHUP: reloading, then ready again.
        kill(pid, SIGHUP)
        #expect(notify.next()?.hasPrefix("RELOADING=1") == true)
        #expect(notify.next()?.hasPrefix("READY=1") == true)
        kill(pid, SIGTERM)
        #expect(notify.next()?.hasPrefix("STOPPING=1") == true)
        #expect(waitFor(pid) == 0)
        // The socket file belongs to the service manager: left in place.
        var st = stat()
        #expect(lstat(activated, &st) == 0 && st.st_mode & S_IFMT == S_IFSOCK)
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(text.contains("socket-activated"), "\(text)")
    }

    /// LISTEN_FDS meant for another process (LISTEN_PID is not ours) is ignored, as
    /// sd_listen_fds(3) says: the daemon binds its own socket.
    @Test func socketsPassedToAnotherPidAreNotTaken() throws {
        let d = try DaemonProcess()
        d.stop()
        var env = ProcessInfo.processInfo.environment
        env["LISTEN_FDS"] = "1"
        env["LISTEN_PID"] = "1"
        let own = d.root + "/own.sock"
        let log = d.root + "/own.log"
        guard let pid = spawn(
            [latchkeyBinary, "serve", "--data-dir", d.dataDir, "--policies", d.policies, "--socket", own, "--key-file", d.keyFile],
            environment: env, stdoutPath: log, stderrPath: log)
        else { throw FixtureError("cannot start latchkey serve") }
        var up = false
        for _ in 0..<400 where !up {
            up = sh([latchkeyBinary, "health", "--socket", own]).status == 0
            if !up { usleep(25_000) }
        }
        #expect(up, "\((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        kill(pid, SIGTERM)
        #expect(waitFor(pid) == 0)
        #expect(!FileManager.default.fileExists(atPath: own))  // its own socket is removed at stop
    }

    /// systemd's own tool for this: it listens, and on the first connection execs the
    /// daemon with the socket as fd 3; the connection waits in the backlog meanwhile.
    @Test func systemdSocketActivateStartsTheDaemonOnTheFirstConnection() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-socket-activate") else {
            Issue.record("systemd-socket-activate is missing: run scripts/install-deps")
            return
        }
        let d = try DaemonProcess()
        d.stop()
        let activated = d.root + "/ssa.sock"
        let notify = try NotifyListener("@latchkey-ssa-\(UUID().uuidString.prefix(8))")
        let log = d.root + "/ssa.log"
        guard let pid = spawn(
            ["/usr/bin/systemd-socket-activate", "-l", activated, "--fdname=latchkey", "-E", "NOTIFY_SOCKET=\(notify.address)",
             latchkeyBinary, "serve", "--data-dir", d.dataDir, "--policies", d.policies, "--key-file", d.keyFile],
            environment: ProcessInfo.processInfo.environment, stdoutPath: log, stderrPath: log)
        else { throw FixtureError("cannot start systemd-socket-activate") }
        defer { kill(pid, SIGTERM); _ = waitFor(pid) }
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: activated) { usleep(25_000) }
        let health = sh([latchkeyBinary, "health", "--socket", activated])
        #expect(health.status == 0, "\(health.err)\((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        #expect(notify.next()?.hasPrefix("READY=1") == true)
    }
}
