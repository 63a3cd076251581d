import Foundation
import LatchkeyTestSupport
import Testing

/// A store that was damaged on disk is refused when the daemon starts: `latchkey serve`
/// exits non-zero with an error that names the file and what is wrong, and leaves every
/// byte of it as it found it (nothing is "repaired", rewritten or dropped).
@Suite(.serialized) struct DamagedStoreTests {
    /// A stopped daemon's data directory with projects, secrets and audit rows in it.
    static func populatedStore() throws -> DaemonProcess {
        let d = try DaemonProcess()
        #expect(d.cli(["connection", "add", "ghe", "--kind", "github-enterprise", "--url", "https://ghe.example.com"]).status == 0)
        for n in 0..<20 {
            #expect(d.cli(["project", "add", "p\(n)", "--connection", "ghe", "--repo", "acme/p\(n)"]).status == 0)
            #expect(d.cli(["deploy-key", "create", "p\(n)"]).status == 0)
        }
        #expect(d.cli(["token", "put", "ghe", "--no-verify", "--username", "ci-bot"], stdin: "ghp_damagedstore0123456789abcdefghijklm\n").status == 0)
        d.stop()
        return d
    }

    /// Copies the stopped store to a fresh directory a case can damage.
    static func copy(of d: DaemonProcess) -> String {
        let target = makeTempDirectory("damaged") + "/data"
        #expect(sh(["cp", "-a", d.dataDir, target]).status == 0)
        return target
    }

    /// Runs `latchkey serve` on `dataDir`, expecting it to refuse: its exit status and
    /// output, or a failure if it is still running after ten seconds.
    static func serveExpectingRefusal(_ d: DaemonProcess, dataDir: String) -> (status: Int32, output: String) {
        let root = (dataDir as NSString).deletingLastPathComponent
        let log = root + "/serve.log"
        guard let pid = spawn(
            [latchkeyBinary, "serve", "--data-dir", dataDir, "--policies", d.policies, "--socket", root + "/s.sock", "--key-file", d.root + "/master.key"],
            environment: ProcessInfo.processInfo.environment, stdoutPath: log, stderrPath: log)
        else { return (-1, "cannot start latchkey serve") }
        var status: Int32 = 0
        for _ in 0..<400 {
            if waitpid(pid, &status, WNOHANG) == pid {
                let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
                return (code, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
            }
            usleep(25_000)
        }
        kill(pid, SIGKILL)
        _ = waitFor(pid)
        return (-2, "serve did not refuse within 10 s: " + ((try? String(contentsOfFile: log, encoding: .utf8)) ?? ""))
    }

    /// sha256 of the store and its WAL, by name. The `-shm` file is SQLite's index of the
    /// WAL, rebuilt from it by every reader, and an empty WAL holds nothing (a reader may
    /// create one), so neither is compared.
    static func digests(_ dir: String) -> [String: String] {
        var out: [String: String] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where !name.hasSuffix("-shm") {
            let size = (try? FileManager.default.attributesOfItem(atPath: dir + "/" + name)[.size] as? Int) ?? 0
            if name.hasSuffix("-wal") && size == 0 { continue }
            let r = sh(["sha256sum", dir + "/" + name])
            out[name] = String(r.out.prefix(64))
        }
        return out
    }

    /// Damage, start, expect a refusal naming the store, and compare every file.
    static func expectRefused(_ d: DaemonProcess, damage: (String) throws -> Void, mentions: [String]) throws {
        let dataDir = copy(of: d)
        try damage(dataDir + "/latchkey.db")
        let before = digests(dataDir)
        let (status, output) = serveExpectingRefusal(d, dataDir: dataDir)
        #expect(status != 0 && status < 128, "serve exited \(status): \(output)")
        for m in mentions { #expect(output.contains(m), "the refusal names \(m): \(output)") }
        #expect(!output.contains("ghp_damagedstore"), "no secret in the refusal")
        let after = digests(dataDir)
        #expect(after == before, "the refused store was left byte for byte as it was")
    }

    @Test func corruptedTruncatedForeignAndNewerStoresAreRefusedUntouched() throws {
        let d = try Self.populatedStore()
        // A page in the middle of a table overwritten with noise.
        try Self.expectRefused(d, damage: { db in
            let pages = sh(["sqlite3", db, "SELECT pageno FROM dbstat WHERE name = 'audit' AND pagetype = 'leaf' ORDER BY pageno"]).out
                .split(separator: "\n").compactMap { Int($0) }
            let page = try #require(pages.dropFirst(pages.count / 2).first, "the audit table has leaf pages")
            let size = Int(sh(["sqlite3", db, "PRAGMA page_size"]).out.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 4096
            let h = try #require(FileHandle(forWritingAtPath: db))
            try h.seek(toOffset: UInt64((page - 1) * size))
            try h.write(contentsOf: Data((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) }))
            try h.close()
        }, mentions: ["latchkey.db", "damaged", "restore it from a backup"])

        // The file cut to half its length.
        try Self.expectRefused(d, damage: { db in
            let size = try FileManager.default.attributesOfItem(atPath: db)[.size] as? Int ?? 0
            #expect(truncate(db, off_t(size / 2)) == 0)
        }, mentions: ["latchkey.db", "damaged", "restore it from a backup"])

        // Not a database at all.
        try Self.expectRefused(d, damage: { db in
            try Data(repeating: 0x41, count: 8192).write(to: URL(fileURLWithPath: db))
        }, mentions: ["latchkey.db"])

        // A table's STRICT edited away and a value of another type stored in it (a repo as a
        // blob): refused at open, before anything reads the value.
        try Self.expectRefused(d, damage: { db in
            #expect(sh(["sqlite3", db, """
                PRAGMA writable_schema = ON;
                UPDATE sqlite_master SET sql = replace(sql, ') STRICT', ')') WHERE name = 'project';
                """]).status == 0)
            #expect(sh(["sqlite3", db, "UPDATE project SET repo = CAST(repo AS BLOB)"]).status == 0)
        }, mentions: ["latchkey.db", "damaged", "table project is not STRICT"])
        // The same with STRICT put back afterwards: SQLite's own check finds the value.
        try Self.expectRefused(d, damage: { db in
            #expect(sh(["sqlite3", db, """
                PRAGMA writable_schema = ON;
                UPDATE sqlite_master SET sql = replace(sql, ') STRICT', ')') WHERE name = 'project';
                """]).status == 0)
            #expect(sh(["sqlite3", db, "UPDATE project SET repo = CAST(repo AS BLOB)"]).status == 0)
            #expect(sh(["sqlite3", db, """
                PRAGMA writable_schema = ON;
                UPDATE sqlite_master SET sql = sql || ' STRICT' WHERE name = 'project';
                """]).status == 0)
        }, mentions: ["latchkey.db", "damaged", "non-TEXT value in project.repo"])

        // Written by a newer Latchkey.
        try Self.expectRefused(d, damage: { db in
            #expect(sh(["sqlite3", db, "UPDATE metadata SET value = '99' WHERE key = 'schema_version'"]).status == 0)
        }, mentions: ["latchkey.db", "schema version 99", "upgrade latchkey"])

        // The undamaged store still starts and serves.
        try d.start()
        #expect(d.cli(["project", "list"]).out.contains("p19"))
        d.stop()
    }

    @Test func aMissingOrWrongMasterKeyIsRefusedUntouched() throws {
        let d = try Self.populatedStore()
        let dataDir = Self.copy(of: d)
        // The store itself is sound here, so SQLite may fold its WAL into the file when the
        // refusing daemon closes it: what must not change is its content.
        let dump = { sh(["sqlite3", dataDir + "/latchkey.db", ".dump"]).out }
        let before = dump()
        let keyFile = d.root + "/master.key"
        let original = try Data(contentsOf: URL(fileURLWithPath: keyFile))

        try FileManager.default.removeItem(atPath: keyFile)
        let missing = Self.serveExpectingRefusal(d, dataDir: dataDir)
        #expect(missing.status != 0 && missing.status < 128, "\(missing)")
        #expect(missing.output.contains("master.key"), "the refusal names the key file: \(missing.output)")

        var other = original
        other[other.startIndex] ^= 0x01
        other[other.index(before: other.endIndex)] ^= 0x01
        #expect(FileManager.default.createFile(atPath: keyFile, contents: other, attributes: [.posixPermissions: 0o600]))
        let wrong = Self.serveExpectingRefusal(d, dataDir: dataDir)
        #expect(wrong.status != 0 && wrong.status < 128, "\(wrong)")
        #expect(!wrong.output.isEmpty)
        #expect(dump() == before, "the store's content was left as it was")

        #expect(FileManager.default.createFile(atPath: keyFile, contents: original, attributes: [.posixPermissions: 0o600]))
        try d.start()
        #expect(d.cli(["project", "list"]).out.contains("p0"))
        d.stop()
    }
}
