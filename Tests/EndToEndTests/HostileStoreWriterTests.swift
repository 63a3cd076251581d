import Foundation
import LatchkeyTestSupport
import Testing

/// The attacker who can write the store file (or a backup) but holds no master key, as
/// the threat model has them: they drop triggers and edit the SQLite file with the
/// `sqlite3` tool, and re-chain the audit log with a re-implementation of docs/AUDIT.md
/// (below, in Python, written from that document alone). Each test performs the attack on
/// a real daemon's store and shows it now gets nothing.
@Suite(.serialized) struct HostileStoreWriterTests {
    /// docs/AUDIT.md's row encoding and chain, re-implemented independently: runs the
    /// attacker's SQL with the triggers dropped, renumbers the rows 1, 2, … again,
    /// recomputes every prev_hash / row_hash, and deletes checkpoints after `keep`
    /// (all of them with keep = 0).
    static let rechain = #"""
        import hashlib, sqlite3, struct, sys
        db = sqlite3.connect(sys.argv[1])
        attack, keep = sys.argv[2], int(sys.argv[3])
        for t in ["audit_no_update", "audit_no_delete", "audit_next_seq_only", "audit_checkpoint_no_update", "audit_checkpoint_no_delete",
                  "audit_checkpoint_next_only", "audit_actor_in_range"]:
            db.execute("DROP TRIGGER IF EXISTS " + t)
        db.executescript(attack)
        def s(b): return struct.pack(">I", len(b)) + b
        def opt(v, f): return b"\x00" if v is None else b"\x01" + f(v)
        txt = lambda v: s(v.encode())
        u32 = lambda v: struct.pack(">I", v & 0xffffffff)
        u64 = lambda v: struct.pack(">Q", v & 0xffffffffffffffff)
        rows = db.execute("SELECT seq, time, actor_role, actor_uid, actor_gid, actor_pid, session_id, action, target_connection, "
                          "target_project, target_kind, target_version, outcome, reason, request_id FROM audit ORDER BY seq").fetchall()
        db.execute("UPDATE audit SET seq = seq + 100000000")
        prev = bytes(32)
        for n, r in enumerate(rows, start=1):
            enc = (txt("latchkey-audit-row-v1") + u64(n) + txt(r[1]) + txt(r[2]) + opt(r[3], u32) + opt(r[4], u32) + opt(r[5], u32)
                   + opt(r[6], txt) + txt(r[7]) + opt(r[8], txt) + opt(r[9], txt) + opt(r[10], txt) + opt(r[11], u64) + txt(r[12])
                   + opt(r[13], txt) + opt(r[14], txt))
            h = hashlib.blake2b(prev + enc, digest_size=32).digest()
            db.execute("UPDATE audit SET seq = ?, prev_hash = ?, row_hash = ? WHERE seq = ?", (n, prev, h, r[0] + 100000000))
            prev = h
        db.execute("DELETE FROM audit_checkpoint WHERE id > ?", (keep,))
        db.commit()
        """#

    static func attack(_ db: String, _ sql: String, keepCheckpoints: Int) throws {
        let script = (db as NSString).deletingLastPathComponent + "/rechain.py"
        try rechain.write(toFile: script, atomically: true, encoding: .utf8)
        let r = sh(["python3", script, db, sql, String(keepCheckpoints)])
        #expect(r.status == 0, "the attack script ran: \(r.err)")
    }

    /// The store's content (SQLite may fold a WAL into the file when a refusing daemon
    /// closes it; what must not change is what the file holds).
    static func dump(_ dataDir: String) -> String { sh(["sqlite3", dataDir + "/latchkey.db", ".dump"]).out }

    /// A stopped daemon's store with admin changes, a session and its releases in the log.
    static func populated() throws -> DaemonProcess {
        let d = try DaemonProcess()
        #expect(d.cli(["connection", "add", "ghe", "--kind", "github-enterprise", "--url", "https://ghe.example.com"]).status == 0)
        #expect(d.cli(["project", "add", "web", "--connection", "ghe", "--repo", "acme/web"]).status == 0)
        #expect(d.cli(["deploy-key", "create", "web"]).status == 0)
        d.stop()
        // A second run: the log then holds the first start's checkpoint and one per stop.
        try d.start()
        for n in 0..<5 { #expect(d.cli(["project", "add", "p\(n)", "--connection", "ghe", "--repo", "acme/p\(n)"]).status == 0) }
        d.stop()
        return d
    }

    /// `latchkey serve` on `dataDir` with `extra` options, expected to refuse.
    static func serveRefuses(_ d: DaemonProcess, dataDir: String, extra: [String] = []) -> (status: Int32, output: String) {
        let root = (dataDir as NSString).deletingLastPathComponent
        let log = root + "/serve-\(UUID().uuidString.prefix(6)).log"
        guard let pid = spawn(
            [latchkeyBinary, "serve", "--data-dir", dataDir, "--policies", d.policies, "--socket", root + "/s.sock", "--key-file", d.root + "/master.key"]
                + extra,
            environment: ProcessInfo.processInfo.environment, stdoutPath: log, stderrPath: log)
        else { return (-1, "cannot start latchkey serve") }
        var status: Int32 = 0
        for _ in 0..<600 {
            if waitpid(pid, &status, WNOHANG) == pid {
                let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
                return (code, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
            }
            usleep(25_000)
        }
        kill(pid, SIGKILL)
        _ = waitFor(pid)
        return (-2, "serve did not refuse within 15 s: " + ((try? String(contentsOfFile: log, encoding: .utf8)) ?? ""))
    }

    static func verify(_ dataDir: String, _ extra: [String] = []) -> ToolResult {
        sh([latchkeyBinary, "audit", "verify", "--data-dir", dataDir] + extra)
    }

    @Test func aRewrittenAuditHistoryIsFoundByVerifyAndRefusedByServe() throws {
        let d = try Self.populated()
        #expect(Self.verify(d.dataDir).status == 0, "the untouched store verifies: \(Self.verify(d.dataDir).out)")

        // Rows deleted from the middle, the chain recomputed per docs/AUDIT.md, every
        // checkpoint deleted (so none names the old head).
        let rewritten = DamagedStoreTests.copy(of: d)
        try Self.attack(rewritten + "/latchkey.db", "DELETE FROM audit WHERE seq IN (3, 4, 5);", keepCheckpoints: 0)
        let v1 = Self.verify(rewritten)
        #expect(v1.status != 0 && v1.out.contains("there is no checkpoint"), "\(v1.out)")
        let before = Self.dump(rewritten)
        let served = Self.serveRefuses(d, dataDir: rewritten)
        #expect(served.status != 0 && served.status < 128 && served.output.contains("audit log"), "\(served)")
        #expect(!served.output.contains("serving"), "nothing served")
        #expect(Self.dump(rewritten) == before, "nothing written or signed over the forged chain")

        // Rows re-chained but the first checkpoint kept: it no longer matches, or the chain
        // of checkpoints is cut.
        let partly = DamagedStoreTests.copy(of: d)
        try Self.attack(partly + "/latchkey.db", "DELETE FROM audit WHERE seq = 2;", keepCheckpoints: 2)
        let v2 = Self.verify(partly)
        #expect(v2.status != 0 && v2.out.contains("FAILED"), "\(v2.out)")
        #expect(Self.serveRefuses(d, dataDir: partly).status != 0)

        // A checkpoint deleted from the middle of the checkpoint chain (rows left alone).
        let holed = DamagedStoreTests.copy(of: d)
        #expect(sh(["sqlite3", holed + "/latchkey.db", "DROP TRIGGER audit_checkpoint_no_delete; DELETE FROM audit_checkpoint WHERE id = 2"]).status == 0)
        let v3 = Self.verify(holed)
        #expect(v3.status != 0 && v3.out.contains("checkpoint 2 is missing"), "\(v3.out)")
        #expect(Self.serveRefuses(d, dataDir: holed).status != 0)
    }

    @Test func aTailCutBackToACheckpointIsFoundWithTheDaemonsLogAndTheWitness() throws {
        let d = try DaemonProcess()
        d.stop()
        let witness = d.root + "/witness.log"
        // Served twice with a witness: each stop signs a checkpoint over the head.
        for round in 0..<2 {
            let root = d.root
            guard let pid = spawn(
                [latchkeyBinary, "serve", "--data-dir", d.dataDir, "--policies", d.policies, "--socket", d.socket, "--key-file", root + "/master.key",
                 "--checkpoint-witness", witness],
                environment: ProcessInfo.processInfo.environment, stdoutPath: d.logPath, stderrPath: d.logPath)
            else { Issue.record("cannot start serve"); return }
            for _ in 0..<200 where sh([latchkeyBinary, "health", "--socket", d.socket]).status != 0 { usleep(25_000) }
            #expect(d.cli(["project", "list"]).status == 0)
            #expect(d.cli(["connection", "add", "c\(round)", "--kind", "gitlab", "--url", "https://gl\(round).example.com"]).status == 0)
            kill(pid, SIGTERM)
            _ = waitFor(pid)
        }
        let lines = try String(contentsOfFile: witness, encoding: .utf8).split(separator: "\n")
        #expect(lines.count >= 2 && lines.allSatisfy { $0.hasPrefix("audit checkpoint v2 id=") }, "\(lines)")
        #expect(d.log.contains("audit checkpoint v2 id="), "the daemon logs each checkpoint in its parseable form")
        func fields(_ line: Substring) -> [String: String] {
            Dictionary(line.split(separator: " ").compactMap { t -> (String, String)? in
                let kv = t.split(separator: "=", maxSplits: 1)
                return kv.count == 2 ? (String(kv[0]), String(kv[1])) : nil
            }, uniquingKeysWith: { a, _ in a })
        }
        // The attacker cuts the second run off: its rows and checkpoints go, the chain is
        // intact up to the first run's last checkpoint.
        let cut = DamagedStoreTests.copy(of: d)
        let db = cut + "/latchkey.db"
        let first = fields(try #require(lines.first))
        let (keep, keptSeq) = (try #require(first["id"]), try #require(first["seq"]))
        #expect(sh(["sqlite3", db, """
            DROP TRIGGER audit_no_delete; DROP TRIGGER audit_checkpoint_no_delete;
            DELETE FROM audit WHERE seq > \(keptSeq); DELETE FROM audit_checkpoint WHERE id > \(keep);
            """]).status == 0)
        // The store alone cannot prove its own tail: it verifies...
        #expect(Self.verify(cut).status == 0, "an honest limit: a log cut back to a checkpoint looks like one that ended there")
        // ...but not against the daemon's log, the witness, or a checkpoint kept elsewhere.
        let withLog = Self.verify(cut, ["--log", d.logPath])
        // (Its newest checkpoints are past the store's end: the store is reported behind them.)
        #expect(withLog.status != 0 && withLog.out.contains("this store ends at seq \(keptSeq); the checkpoint you hold"), "\(withLog.out)")
        #expect(withLog.out.contains("restored from an older backup (or cut back)"), "\(withLog.out)")
        #expect(Self.verify(cut, ["--log", witness]).status != 0)
        let last = fields(try #require(lines.last))
        let expectation = "\(last["id"]!):\(last["seq"]!):\(last["head"]!)"
        #expect(Self.verify(d.dataDir, ["--expect-checkpoint", expectation, "--log", d.logPath, "--log", witness]).status == 0, "the real store holds them all")
        #expect(Self.verify(cut, ["--expect-checkpoint", expectation]).status != 0)
        let before = Self.dump(cut)
        let served = Self.serveRefuses(d, dataDir: cut, extra: ["--checkpoint-witness", witness])
        #expect(served.status != 0 && served.status < 128 && served.output.contains("witness"), "\(served)")
        #expect(Self.dump(cut) == before, "nothing signed over the cut log")
    }

    @Test func anActorUIDOutside32BitsIsCaughtNotReadAsAnother() throws {
        let d = try Self.populated()
        let copy = DamagedStoreTests.copy(of: d)
        let db = copy + "/latchkey.db"
        let seq = sh(["sqlite3", db, "SELECT min(seq) FROM audit WHERE actor_uid IS NOT NULL"]).out.trimmingCharacters(in: .whitespacesAndNewlines)
        // uid + 2^32 is the same u32: before the strict encoder this verified as intact.
        #expect(sh(["sqlite3", db, "DROP TRIGGER audit_no_update; UPDATE audit SET actor_uid = actor_uid + 4294967296 WHERE seq = \(seq)"]).status == 0)
        let v = Self.verify(copy)
        #expect(v.status != 0 && v.out.contains("FAILED at seq \(seq)") && v.out.contains("actor_uid"), "\(v.out)")
        #expect(Self.serveRefuses(d, dataDir: copy).status != 0)
        // And new rows out of range are refused by the schema itself.
        let insert = sh(["sqlite3", db, """
            INSERT INTO audit(seq, time, actor_role, actor_uid, action, outcome, prev_hash, row_hash)
            VALUES ((SELECT max(seq) + 1 FROM audit), '2026-12-01T00:00:00.000000Z', 'admin', 4294968296, 'x', 'granted', zeroblob(32), zeroblob(32))
            """])
        #expect(insert.status != 0 && insert.err.contains("out of range"), "\(insert.err)")
    }

    /// A row numbered 0 (possible once the table's CHECK is edited away) is below the
    /// range the streaming check reads from seq 1: it must still be found.
    @Test func aRowNumberedZeroIsFoundByVerifyAndRefusedByServe() throws {
        let d = try Self.populated()
        let copy = DamagedStoreTests.copy(of: d)
        let db = copy + "/latchkey.db"
        let unchecked = sh(["sqlite3", db, """
            PRAGMA writable_schema = ON;
            UPDATE sqlite_master SET sql = replace(sql, 'CHECK (seq >= 1)', '') WHERE name = 'audit';
            """])
        #expect(unchecked.status == 0, "\(unchecked.err)")
        let insert = sh(["sqlite3", db, """
            DROP TRIGGER audit_next_seq_only;
            INSERT INTO audit(seq, time, actor_role, action, outcome, prev_hash, row_hash)
            VALUES (0, '2026-12-01T00:00:00.000000Z', 'admin', 'x', 'granted', zeroblob(32), zeroblob(32));
            """])
        #expect(insert.status == 0, "\(insert.err)")
        let v = Self.verify(copy)
        #expect(v.status != 0 && v.out.contains("FAILED"), "\(v.out)")
        let before = Self.dump(copy)
        let served = Self.serveRefuses(d, dataDir: copy)
        #expect(served.status != 0 && served.status < 128 && !served.output.contains("serving"), "\(served)")
        #expect(Self.dump(copy) == before, "nothing written")
    }

    /// With the tables' STRICT edited away, a column can hold another type (one its
    /// declared affinity does not convert back). Each such column is named as malformed by
    /// `audit verify` (exit 65), never trapped on (a crash, not an answer) and never read
    /// as its bytes (a request id as a blob of the same bytes hashes exactly as the text
    /// did); `serve` refuses the store at open, its tables no longer STRICT.
    @Test func aColumnOfAnotherTypeIsNamedNotTrappedOnNorReadAsItsBytes() throws {
        let d = try Self.populated()
        func edited(_ sql: String) -> String {
            let copy = DamagedStoreTests.copy(of: d)
            let db = copy + "/latchkey.db"
            let loose = sh(["sqlite3", db, """
                PRAGMA writable_schema = ON;
                UPDATE sqlite_master SET sql = replace(sql, ') STRICT', ')') WHERE name IN ('audit', 'audit_checkpoint');
                """])
            #expect(loose.status == 0, "\(loose.err)")
            let r = sh(["sqlite3", db, "PRAGMA ignore_check_constraints = ON; DROP TRIGGER audit_no_update; DROP TRIGGER audit_checkpoint_no_update; " + sql])
            #expect(r.status == 0, "\(r.err)")
            return copy
        }
        func firstSeq(where condition: String) -> String {
            sh(["sqlite3", d.dataDir + "/latchkey.db", "SELECT min(seq) FROM audit WHERE \(condition)"]).out
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let uidSeq = firstSeq(where: "actor_uid IS NOT NULL")
        let requestSeq = firstSeq(where: "request_id IS NOT NULL")
        let rows = [
            (edited("UPDATE audit SET actor_uid = 'uid ' || actor_uid WHERE seq = \(uidSeq)"), "FAILED at seq \(uidSeq)", "actor_uid is not an integer"),
            (edited("UPDATE audit SET request_id = CAST(request_id AS BLOB) WHERE seq = \(requestSeq)"), "FAILED at seq \(requestSeq)", "request_id is not text"),
            (edited("UPDATE audit SET time = CAST(time AS BLOB) WHERE seq = 1"), "FAILED at seq 1", "time is not text"),
            (edited("UPDATE audit SET target_version = 1.5 WHERE seq = 3"), "FAILED at seq 3", "target_version is not an integer"),
            (edited("UPDATE audit SET row_hash = CAST(row_hash AS TEXT) WHERE seq = 2"), "FAILED at seq 2", "row_hash is not a blob"),
        ]
        for (copy, failed, reason) in rows {
            let v = Self.verify(copy)
            #expect(v.status == 65 && v.out.contains(failed) && v.out.contains(reason), "\(reason): \(v.status) \(v.out) \(v.err)")
            let before = Self.dump(copy)
            let served = Self.serveRefuses(d, dataDir: copy)
            #expect(served.status != 0 && served.status < 128 && !served.output.contains("serving"), "\(reason): \(served)")
            #expect(Self.dump(copy) == before, "\(reason): nothing written")
        }
        let checkpoint = edited("UPDATE audit_checkpoint SET head_hash = CAST(head_hash AS TEXT) WHERE id = 1")
        let v = Self.verify(checkpoint)
        #expect(v.status == 65 && v.err.contains("audit checkpoint 1: head_hash is not a blob"), "\(v.status) \(v.out) \(v.err)")
        let served = Self.serveRefuses(d, dataDir: checkpoint)
        // serve refuses it sooner, at open: the table is no longer STRICT.
        #expect(served.status != 0 && served.status < 128 && served.output.contains("table audit is not STRICT"), "\(served)")
    }
}
