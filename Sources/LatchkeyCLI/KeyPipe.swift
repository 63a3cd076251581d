import Foundation
import LatchkeyCrypto

/// The deploy key as `exec --ssh key` hands it to ssh: a named pipe (mode 0600, in a
/// private 0700 directory) that a thread of `exec` serves the key through, whole, to
/// each reader that opens it, for as long as the command runs.
///
/// The key is never written to a file: it lives in this process's memory only, so
/// when `exec` ends by any means — SIGKILL included — nothing that holds the key is
/// left behind (at most the empty pipe node and its directory). A memfd as `/dev/fd/N`
/// does not work here: ssh closes every descriptor above stderr first thing in `main`,
/// so `-i /dev/fd/N` names nothing by the time it loads keys; a named pipe is a path
/// ssh opens and reads to its end like a file (its permission check sees mode 0600).
final class KeyPipe: @unchecked Sendable {
    // @unchecked: `key` is written once in init and read by the serving thread only;
    // `stopping` is an atomic flag the two threads share.
    let directory: String
    let path: String
    private var key: [UInt8]
    /// Public files beside the pipe (a certificate), removed with it.
    private var extras: [String] = []
    private let stopping = AtomicFlag()
    private let served = DispatchSemaphore(value: 0)

    /// Makes the directory and the pipe (`name`) under `parent` and starts serving `key`.
    init(key: [UInt8], under parent: String, name: String = "id_deploy") throws {
        var template = Array((parent + "/latchkey-exec-XXXXXX").utf8CString)
        guard let dir = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }).map({ String(cString: $0) }) else {
            throw InputError("cannot create a private temporary directory under \(parent)")
        }
        directory = dir
        path = dir + "/" + name
        guard mkfifo(path, 0o600) == 0 else {
            rmdir(dir)
            throw InputError("cannot create the key pipe in \(dir): \(String(cString: strerror(errno)))")
        }
        self.key = key
        let thread = Thread { [self] in serve() }
        thread.start()
    }

    /// One reader at a time: open (blocks until a reader comes), put a fresh pipe at the
    /// path for the next reader, write the whole key, close (the reader sees its end).
    /// Without the fresh pipe a reader still draining would be handed the next copy too:
    /// a pipe's readers see end-of-file only when no writer has it open.
    private func serve() {
        defer { served.signal() }
        let next = path + ".next"
        while !stopping.isSet {
            let fd = open(path, O_WRONLY | O_CLOEXEC)
            if fd < 0 {
                if errno == EINTR { continue }
                return
            }
            if stopping.isSet {
                close(fd)
                return
            }
            unlink(next)
            guard mkfifo(next, 0o600) == 0, rename(next, path) == 0 else {
                close(fd)
                return
            }
            var sent = 0
            while sent < key.count {
                // MSG_NOSIGNAL does not apply to pipes: SIGPIPE is ignored by `exec`, so a
                // reader that leaves early gives EPIPE here.
                let n = key.withUnsafeBytes { write(fd, $0.baseAddress! + sent, $0.count - sent) }
                if n < 0 { if errno == EINTR { continue } else { break } }
                sent += n
            }
            close(fd)
        }
    }

    /// Writes a public file (mode 0600, created exclusively) beside the pipe; its path.
    /// Call before the command starts.
    func addPublicFile(name: String, contents: [UInt8]) throws -> String {
        let file = directory + "/" + name
        try writeExclusive(path: file, contents: contents)
        extras.append(file)
        return file
    }

    /// Stops serving, wipes the key and removes the pipe and its directory.
    func remove() {
        guard !stopping.testAndSet() else { return }
        // Wake the serving thread if it waits for a reader: open the read end ourselves.
        let wake = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        served.wait()
        if wake >= 0 { close(wake) }
        wipe(&key)
        unlink(path)
        unlink(path + ".next")
        for file in extras { unlink(file) }
        rmdir(directory)
    }

    /// Where the pipe's directory goes: memory-backed if the system offers one.
    static var defaultParent: String {
        let env = ProcessInfo.processInfo.environment
        if let run = env["XDG_RUNTIME_DIR"], access(run, W_OK) == 0 { return run }
        if access("/dev/shm", W_OK) == 0 { return "/dev/shm" }
        return String(NSTemporaryDirectory().dropLast(NSTemporaryDirectory().hasSuffix("/") ? 1 : 0))
    }
}

/// A flag two threads share.
final class AtomicFlag: @unchecked Sendable {
    // @unchecked: every access holds `lock`.
    private let lock = NSLock()
    private var value = false

    var isSet: Bool { lock.withLock { value } }

    /// Sets the flag; returns whether it was already set.
    func testAndSet() -> Bool {
        lock.withLock {
            defer { value = true }
            return value
        }
    }
}
