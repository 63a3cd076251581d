import Foundation
import LatchkeyAPI
import LatchkeyClient
import Testing

/// A connected socket carries its connector's identity (#16 finding 10): a process that
/// inherits one must not act as the runner or admin who opened it.
@Suite(.serialized) struct InheritedConnectionTests {
    /// A Python client that connects to the daemon as root (the admin), then hands the
    /// connected socket on as `how` says, and the new holder — uid 4004, a stranger —
    /// sends `request` on it. Returns the answer's status line and body.
    func handOn(_ d: TestDaemon, how: String, request: String) throws -> String {
        let out = "/tmp/lk-inherit-\(UUID().uuidString.prefix(8))"
        mkdir(out, 0o777)
        chmod(out, 0o777)
        let sender = """
            import os, socket, sys
            fd = int(sys.argv[1])
            s = socket.socket(fileno=fd)
            s.sendall(sys.argv[2].encode().decode('unicode_escape').encode())
            data = b''
            while True:
                try:
                    chunk = s.recv(65536)
                except OSError as e:             # e.g. a reset: say so rather than leave no answer
                    data += ('(%s)' % e).encode()
                    break
                if not chunk: break
                data += chunk
                head, sep, body = data.partition(b'\\r\\n\\r\\n')
                if sep:
                    length = [int(l.split(b':')[1]) for l in head.split(b'\\r\\n') if l.lower().startswith(b'content-length:')]
                    if length and len(body) >= length[0]: break
            open(sys.argv[3] + '.part', 'wb').write(data)
            os.rename(sys.argv[3] + '.part', sys.argv[3])   # the reader never sees a half-written answer
            """
        try sender.write(toFile: out + "/send.py", atomically: true, encoding: .utf8)
        chmod(out + "/send.py", 0o644)
        let driver = """
            import os, socket, sys, time
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(sys.argv[1])
            s.set_inheritable(True)
            argv = ['setpriv', '--reuid=4004', '--regid=4004', '--clear-groups', '/usr/bin/python3', sys.argv[2] + '/send.py', str(s.fileno()), sys.argv[3], sys.argv[2] + '/answer']
            if sys.argv[4] == 'exec':
                os.execvp('setpriv', argv)       # same pid, now another uid, socket kept
            else:
                parent = os.getpid()               # taken before the fork: the connector may be gone before the child runs
                if os.fork() == 0:
                    for _ in range(6000):          # until the connector has exited (we are reparented)
                        if os.getppid() != parent: break
                        time.sleep(0.01)
                    os.execvp('setpriv', argv)
                os._exit(0)
            """
        try driver.write(toFile: out + "/drive.py", atomically: true, encoding: .utf8)
        _ = run("python3", [out + "/drive.py", d.socketPath, out, request, how])
        // Up to 3 minutes: on a loaded machine the reparented child's python starts slowly,
        // and the daemon in this process shares its two cooperative threads with every suite.
        for _ in 0..<7_200 where !FileManager.default.fileExists(atPath: out + "/answer") { usleep(25_000) }
        guard let answer = try? String(contentsOfFile: out + "/answer", encoding: .utf8) else { return "(no answer within 180 s)" }
        return answer.isEmpty ? "(the daemon closed the connection without an answer)" : answer
    }

    let listConnections = "GET /v1/connections HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 0\\r\\n\\r\\n"
    let addConnection = #"POST /v1/connections HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 65\r\n\r\n{"name":"evil","kind":"gitlab","url":"https://evil.example.com/"}"#

    @Test func aProcessThatInheritsAnAdminsConnectionActsAsNobody() async throws {
        // The request comes from a process started seconds after the connection opened (a
        // fork, setpriv, python): the daemon must wait for it longer than the tests' 2 s.
        let d = try await TestDaemon(policy: matrixPolicy, requestTimeout: .seconds(120))
        try await offPool {
            // The connector exec'd into another uid, keeping the socket: refused.
            let viaExec = try handOn(d, how: "exec", request: addConnection)
            #expect(viaExec.hasPrefix("HTTP/1.1 403") && viaExec.contains("peer_changed"), "\(viaExec)")
            // The connector exited and left the socket to a child of another uid: refused.
            let viaFork = try handOn(d, how: "fork", request: listConnections)
            #expect(viaFork.hasPrefix("HTTP/1.1 403") && viaFork.contains("peer_changed"), "\(viaFork)")
            // Nothing was changed, and the refusals are in the log as the admin's connection.
            let list: [ConnectionInfo] = try d.client().call("GET", "/v1/connections")
            #expect(list.isEmpty)
            let denied = try auditRows(d, "/v1/audit?outcome=denied&limit=100")
            #expect(denied.filter { $0.reason == "peer_changed" }.count == 2)
        }
        await d.stop()
    }

    @Test func theClientLibrarysSocketIsNotInheritedByWhatItRuns() throws {
        let dir = "/tmp/lk-cloexec-\(UUID().uuidString.prefix(8))"
        mkdir(dir, 0o700)
        let path = dir + "/s.sock"
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        listen(listener, 4)
        let connection = try UnixHTTPConnection(path: path)
        // The client's socket: the descriptor of ours whose peer is the listener's path.
        var clientFD: Int32?
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? [] {
            guard let fd = Int32(name), fd != listener else { continue }
            var peer = sockaddr_un()
            var len = socklen_t(MemoryLayout<sockaddr_un>.size)
            let rc = withUnsafeMutablePointer(to: &peer) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &len) } }
            guard rc == 0, peer.sun_family == sa_family_t(AF_UNIX) else { continue }
            let peerPath = withUnsafeBytes(of: peer.sun_path) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if peerPath == path { clientFD = fd }
        }
        let fd = try #require(clientFD)
        #expect(fcntl(fd, F_GETFD) & FD_CLOEXEC != 0, "the client's socket is inherited by exec")
        // And a child run now does not hold it.
        let inode = try #require(try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)"))
        let child = run("/bin/sh", ["-c", "ls -l /proc/$$/fd"]).out
        #expect(!child.contains(inode), "the child inherited \(inode)")
        withExtendedLifetime(connection) {}
    }
}
