import Foundation
import LatchkeyTestSupport
import Testing

@Suite struct QuickStartTests {
    /// The README's first command on a checkout as a fresh clone has it: Keys/ with only its
    /// README (mode 0755) and the shipped Policies/. `latchkey serve` with no options makes
    /// the store, and curl over the socket gets an answer.
    @Test func serveWithNoOptionsWorksOnAFreshCheckout() throws {
        let root = makeTempDirectory("quickstart")
        mkdir(root + "/Keys", 0o755)
        chmod(root + "/Keys", 0o755)
        try "# Keys/\n".write(toFile: root + "/Keys/README.md", atomically: true, encoding: .utf8)
        mkdir(root + "/Policies", 0o755)
        let shipped = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Policies/default.yaml").path
        try FileManager.default.copyItem(atPath: shipped, toPath: root + "/Policies/default.yaml")
        chmod(root + "/Policies/default.yaml", 0o644)
        guard let pid = spawn([latchkeyBinary, "serve"], environment: ProcessInfo.processInfo.environment, cwd: root,
            stdoutPath: root + "/serve.log", stderrPath: root + "/serve.log")
        else { throw FixtureError("cannot start latchkey serve") }
        defer { kill(pid, SIGTERM); _ = waitFor(pid) }
        var up = false
        for _ in 0..<400 where !up {
            up = sh([latchkeyBinary, "health", "--socket", root + "/Keys/latchkey.sock"]).status == 0
            if !up { usleep(25_000) }
        }
        let log = (try? String(contentsOfFile: root + "/serve.log", encoding: .utf8)) ?? ""
        #expect(up, "\(log)")
        let curl = sh(["curl", "-s", "--unix-socket", root + "/Keys/latchkey.sock", "http://localhost/v1/health"])
        #expect(curl.status == 0 && curl.out.contains("\"status\":\"ok\""), "\(curl.out)")
        var st = stat()
        stat(root + "/Keys", &st)
        #expect(st.st_mode & 0o777 == 0o700)
        stat(root + "/Keys/master.key", &st)
        #expect(st.st_mode & 0o777 == 0o600)
        #expect(log.contains("development default"))
    }
}
