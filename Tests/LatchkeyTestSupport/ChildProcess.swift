// LatchkeyTestSupport: running real tools (ssh-keygen, sqlite3, curl, git, sshd, the
// latchkey binary) from tests, shared by every test target.
//
// Children are started with posix_spawn and reaped with waitpid, and their stdin, stdout
// and stderr are files, never pipes: a pipe's write end can leak into a long-lived child
// that a parallel test starts (sshd, a daemon), and its reader then never sees
// end-of-file; Foundation's Process child reaping also hung next to long-lived children.
// Nothing but those three reaches a child: every other descriptor of this process is
// closed in it. Without that, a long-lived child (a daemon, sshd, PostgreSQL) kept a copy
// of a connection an in-process daemon had accepted (NIO accepts without close-on-exec),
// so the daemon's close never reached its client, which waited for end-of-file until that
// child exited: the HTTP fuzz corpus replay hung for good under the full suite.
public import Foundation

/// Starts a program: stdin from `stdinPath`, stdout and stderr appended to files,
/// optionally in `cwd`. Returns its pid, or nil if it could not start.
public func spawn(
    _ argv: [String], environment: [String: String], cwd: String? = nil, stdinPath: String = "/dev/null", stdoutPath: String,
    stderrPath: String
) -> pid_t? {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, stdinPath, O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    closeDescriptors(from: 3, in: &actions)
    // posix_spawn_file_actions_addchdir_np does not import: change directory through sh.
    let argv = cwd.map { ["/bin/sh", "-c", "cd -- \"$1\" && shift && exec \"$@\"", "sh", $0] + argv } ?? argv
    let cArgs = argv.map { strdup($0) } + [nil]
    let cEnv = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { (cArgs + cEnv).forEach { free($0) } }
    var pid: pid_t = 0
    guard posix_spawnp(&pid, argv[0], &actions, nil, cArgs, cEnv) == 0 else { return nil }
    return pid
}

/// Adds "close every descriptor from `first` up" to a child's spawn actions (glibc's
/// `posix_spawn_file_actions_addclosefrom_np`, which Swift does not import: looked up once).
public func closeDescriptors(from first: Int32, in actions: inout posix_spawn_file_actions_t) {
    guard let addCloseFrom = addCloseFrom else { fatalError("this libc has no posix_spawn_file_actions_addclosefrom_np (glibc 2.34 or later)") }
    guard addCloseFrom(&actions, first) == 0 else { fatalError("posix_spawn_file_actions_addclosefrom_np failed: \(errno)") }
}

private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
private let addCloseFrom: AddCloseFrom? = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np").map { unsafeBitCast($0, to: AddCloseFrom.self) }

/// Waits for a child; its exit status, or 128 + the signal that killed it.
public func waitFor(_ pid: pid_t) -> Int32 {
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 {
        if errno != EINTR { return -1 }
    }
    return exitStatus(status)
}

/// A wait status as `waitFor` gives it: the exit code, or 128 + the signal.
private func exitStatus(_ status: Int32) -> Int32 {
    let signal = status & 0x7f
    return signal == 0 ? (status >> 8) & 0xff : 128 + signal
}

/// Waits at most `seconds` for a child; its status as `waitFor` gives it, or nil if it is
/// still running then.
public func waitFor(_ pid: pid_t, atMost seconds: Double) -> Int32? {
    let deadline = Date().addingTimeInterval(seconds)
    var status: Int32 = 0
    while true {
        let r = waitpid(pid, &status, WNOHANG)
        if r == pid { return exitStatus(status) }
        if r < 0 && errno != EINTR { return -1 }
        if Date() >= deadline { return nil }
        usleep(20_000)
    }
}

/// Every thread's stack of a running process, through gdb (empty without gdb): what a
/// test prints about a child that hung, before it kills it. Function names and lines
/// only: gdb would print a `char *` argument's bytes, and they may be a secret's.
public func threadStacks(of pid: pid_t) -> String {
    guard FileManager.default.isExecutableFile(atPath: "/usr/bin/gdb") else { return "" }
    let r = runCaptured([
        "/usr/bin/gdb", "-p", String(pid), "-batch", "-nx", "-ex", "set print frame-arguments none", "-ex", "thread apply all bt",
    ])
    return String(decoding: r.out, as: UTF8.self).split(separator: "\n").filter { $0.hasPrefix("#") || $0.hasPrefix("Thread") }.joined(separator: "\n")
}

/// Runs a program to completion with `stdin` as its input; its status and output.
public func runCaptured(_ argv: [String], stdin: Data? = nil, environment: [String: String]? = nil, cwd: String? = nil)
    -> (status: Int32, out: Data, err: Data)
{
    let base = NSTemporaryDirectory() + "lk-run-\(UUID().uuidString)"
    _ = FileManager.default.createFile(atPath: base + ".in", contents: stdin ?? Data())
    defer { for s in [".in", ".out", ".err"] { unlink(base + s) } }
    guard let pid = spawn(
            argv, environment: environment ?? ProcessInfo.processInfo.environment, cwd: cwd, stdinPath: base + ".in",
            stdoutPath: base + ".out", stderrPath: base + ".err")
    else { return (127, Data(), Data("cannot run \(argv[0])".utf8)) }
    let status = waitFor(pid)
    return (status, FileManager.default.contents(atPath: base + ".out") ?? Data(), FileManager.default.contents(atPath: base + ".err") ?? Data())
}
