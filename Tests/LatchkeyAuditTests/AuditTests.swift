import LatchkeyTestSupport
import Foundation
@testable import LatchkeyAudit
import LatchkeyCrypto
import LatchkeyStore
import Testing

/// Runs a tool; stdout and stderr together.
@discardableResult
func tool(_ argv: [String]) -> (status: Int32, out: String) {
    let r = runCaptured(argv)
    return (r.status, String(decoding: r.out + r.err, as: UTF8.self))
}

struct Fixture {
    let dir: String
    let store: Store
    let ring: KeyRing
    let log: AuditLog

    /// The interval defaults to a day so that only row counts place checkpoints: a loaded
    /// machine must not add a timed one and move the counts the tests assert.
    init(directory: String? = nil, every: Int = 1000, interval: Duration = .seconds(86_400)) throws {
        dir = directory ?? NSTemporaryDirectory() + "lk-audit-\(UUID().uuidString.prefix(8))"
        store = try Store(directory: dir, create: true)
        ring = try KeyRing.initialize(store: store, source: .keyFile(path: dir + "/master.key"))
        log = try AuditLog(store: store, signingKey: ring.auditSigning, checkpointEveryRows: every, checkpointInterval: interval) { _ in }
    }

    var db: String { store.path }
    var publicKey: [UInt8] { ring.auditSigning.publicKey }

    func entry(_ i: Int, outcome: AuditEntry.Outcome = .granted) -> AuditEntry {
        AuditEntry(
            actor: .init(role: "build", uid: 1000, gid: 1000, pid: 42, sessionID: "s_\(i)"), action: "secret.release",
            target: .init(connection: "ghe", project: "web", kind: "deploy-key", version: 1), outcome: outcome, reason: nil,
            requestID: "r-\(i)")
    }

    func fill(_ n: Int) async throws {
        for i in 1...n { try await log.append(entry(i)) }
    }

    func checkpointCount() throws -> Int { try store.database.read { try AuditReader.checkpoints(in: $0).count } }
    func lastCheckpointSeq() throws -> Int64? { try store.database.read { try AuditReader.checkpoints(in: $0).last?.auditSeq } }

    func verifyLive() throws -> VerificationReport { try AuditReader.verify(databasePath: db, publicKey: publicKey) }

    func export() throws -> [UInt8] {
        try store.database.read { db in
            var out = AuditExport.header(publicKey: publicKey) + "\n"
            for r in try AuditReader.records(in: db) { out += AuditExport.line(r) + "\n" }
            for c in try AuditReader.checkpoints(in: db) { out += AuditExport.line(c) + "\n" }
            return Array(out.utf8)
        }
    }

    func verifyExport() throws -> VerificationReport {
        let c = try AuditExport.read(try export())
        return AuditVerifier.verify(records: c.records, checkpoints: c.checkpoints, publicKey: publicKey)
    }

    /// What an attacker with the file does: drop the triggers, then edit.
    func tamper(_ sql: String) {
        let drop = "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; DROP TRIGGER audit_next_seq_only; "
        let r = tool(["sqlite3", db, drop + sql])
        precondition(r.status == 0, r.out)
    }
}

@Suite struct AuditChainTests {
    @Test func chainAndCheckpointsVerifyWithOnlyThePublicKey() async throws {
        let f = try Fixture(every: 50)
        try await f.fill(120)
        await f.log.close()
        let live = try f.verifyLive()
        #expect(live.isIntact, "\(live)")
        #expect(live.rowsChecked == 120 && live.checkpointsChecked == 4)  // the first over nothing, at 50, 100 and on close
        let exported = try f.verifyExport()
        #expect(exported.isIntact && exported.rowsChecked == 120)
        // Another key does not verify the checkpoints.
        let other = try Ed25519SigningKey.generate().publicKey
        #expect(try AuditReader.verify(databasePath: f.db, publicKey: other).problem == .badSignature(checkpoint: 1))
    }

    @Test func quietIntervalsGetACheckpointAndClosedLogsRefuseRows() async throws {
        let f = try Fixture(interval: .milliseconds(100))
        try await f.fill(3)
        var covered = false
        for _ in 0..<100 where !covered {
            try await Task.sleep(for: .milliseconds(50))
            covered = try f.lastCheckpointSeq() == 3
        }
        #expect(covered, "a checkpoint over the head within an interval after the last row")
        let count = try f.checkpointCount()
        try await Task.sleep(for: .milliseconds(300))
        #expect(try f.checkpointCount() == count, "no checkpoint for intervals without rows")
        await f.log.close()
        await #expect { try await f.log.append(f.entry(9)) } throws: { ($0 as? AuditError)?.code == "audit_closed" }
        #expect(try f.verifyLive().isIntact)
    }

    @Test func theStreamingCheckConfirmsAnIntactStoreAndAgreesWithTheFullVerifier() async throws {
        let f = try Fixture(every: 40)
        try await f.fill(100)
        try await f.log.append(AuditEntry(actor: .init(role: "daemon"), action: "daemon.stop", outcome: .granted))  // optional fields absent
        await f.log.close()
        let (fast, full) = try await f.store.database.read { db in
            let checkpoints = try AuditReader.checkpoints(in: db)
            return (
                try StoredChainCheck.verify(db, checkpoints: checkpoints, publicKey: f.publicKey),
                AuditVerifier.verify(records: try AuditReader.records(in: db), checkpoints: checkpoints, publicKey: f.publicKey)
            )
        }
        #expect(fast == full, "streaming: \(String(describing: fast)), full: \(full)")
        #expect(full.isIntact && full.rowsChecked == 101 && full.checkpointsChecked == 4)
    }

    @Test func rangesCheckedOnSeveralThreadsJoinIntoTheSameVerdict() async throws {
        let f = try Fixture(every: 25)
        try await f.fill(100)
        await f.log.close()
        let (checkpoints, last) = try await f.store.database.read { db in
            (try AuditReader.checkpoints(in: db), try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM audit") ?? 0)
        }
        func split(_ threads: Int) throws -> VerificationReport? {
            try StoredChainCheck.verify(
                databasePath: f.db, last: last, checkpoints: checkpoints, publicKey: f.publicKey, threads: threads, rowsWorthSplitting: 0)
        }
        let full = try f.verifyLive()
        for threads in [1, 2, 3, 7] { #expect(try split(threads) == full, "\(threads) threads") }
        // Damage where two ranges meet (rows 1–33 | 34–66 | 67–100) is not confirmed by any split.
        f.tamper("UPDATE audit SET reason = 'x' WHERE seq = 34")
        for threads in [1, 2, 3] { #expect(try split(threads) == nil, "\(threads) threads") }
        #expect(try f.verifyLive().problem == .changed(seq: 34))
    }

    @Test func concurrentAppendsShareTransactionsAndGetConsecutiveSeqs() async throws {
        let f = try Fixture()
        let seqs = try await withThrowingTaskGroup(of: Int64.self) { group in
            for i in 1...200 { group.addTask { try await f.log.append(f.entry(i)).seq } }
            var out: [Int64] = []
            for try await s in group { out.append(s) }
            return out
        }
        #expect(Set(seqs) == Set(1...200))
        let transactions = f.log.transactionCount
        #expect(transactions < 200, "group commit wrote \(transactions) transactions for 200 rows")
        #expect(try f.verifyLive().isIntact)
    }

    @Test func aChangeThatThrowsLeavesNeitherChangeNorRow() async throws {
        let f = try Fixture()
        struct Refused: Error {}
        await #expect(throws: Refused.self) {
            try await f.log.append(f.entry(1)) { db in
                try db.execute(sql: "INSERT INTO metadata(key, value) VALUES ('probe', 'x')")
                throw Refused()
            }
        }
        let ok: Int = try await f.log.append(f.entry(2)) { db in
            try db.execute(sql: "INSERT INTO metadata(key, value) VALUES ('kept', 'y')")
            return 7
        }
        #expect(ok == 7)
        let probe = try f.store.metadata("probe")
        let kept = try f.store.metadata("kept")
        #expect(probe == nil && kept == "y")
        #expect(tool(["sqlite3", f.db, "SELECT count(*), max(seq) FROM audit"]).out.trimmingCharacters(in: .whitespacesAndNewlines) == "1|1")
    }

    @Test func theSqlite3ToolCannotChangeOrRemoveRows() async throws {
        let f = try Fixture(every: 2)
        try await f.fill(3)
        for sql in [
            "UPDATE audit SET action = 'x' WHERE seq = 1", "DELETE FROM audit WHERE seq = 2",
            "REPLACE INTO audit SELECT * FROM audit WHERE seq = 1", "INSERT OR REPLACE INTO audit SELECT * FROM audit WHERE seq = 2",
            "UPDATE audit_checkpoint SET audit_seq = 1", "DELETE FROM audit_checkpoint",
            "REPLACE INTO audit_checkpoint SELECT * FROM audit_checkpoint WHERE id = 1",
            "INSERT INTO audit SELECT seq + 10, time, actor_role, actor_uid, actor_gid, actor_pid, session_id, action, target_connection, target_project, target_kind, target_version, outcome, reason, request_id, prev_hash, row_hash, client_request_id, host FROM audit WHERE seq = 1",
        ] {
            let r = tool(["sqlite3", f.db, sql])
            #expect(r.status != 0 && r.out.contains("append-only"), "\(sql): \(r.out)")
        }
        #expect(try f.verifyLive().isIntact)
    }

    @Test func everyKindOfTamperingIsFoundAtTheRightRow() async throws {
        func tampered(_ sql: String, rows: Int = 10, every: Int = 1000) async throws -> (VerificationReport, VerificationReport) {
            let f = try Fixture(every: every)
            try await f.fill(rows)
            await f.log.close()
            f.tamper(sql)
            return (try f.verifyLive(), try f.verifyExport())
        }
        let edited = try await tampered("UPDATE audit SET outcome = 'denied' WHERE seq = 5")
        #expect(edited.0.problem == .changed(seq: 5) && edited.1.problem == .changed(seq: 5))
        let deleted = try await tampered("DELETE FROM audit WHERE seq = 5")
        #expect(deleted.0.problem == .missing(seq: 5) && deleted.1.problem == .missing(seq: 5))
        // A store's chain starts at 1: rows cut off its beginning are missing (an export may start later).
        let headless = try await tampered("DELETE FROM audit WHERE seq <= 3")
        #expect(headless.0.problem == .missing(seq: 1), "\(headless.0)")
        let swap = """
            UPDATE audit SET seq = 1005 WHERE seq = 5; UPDATE audit SET seq = 5 WHERE seq = 6; UPDATE audit SET seq = 6 WHERE seq = 1005;
            """
        let swapped = try await tampered(swap)
        #expect(swapped.0.problem == .reordered(seq: 5) && swapped.1.problem == .reordered(seq: 5), "\(swapped.0)")
        // A forged row at seq 6, chained correctly to row 5, with the later rows renumbered.
        let f = try Fixture()
        try await f.fill(10)
        await f.log.close()
        let rows = try await f.store.database.read { db in try AuditReader.records(in: db) }
        var forged = f.entry(99)
        forged.action = "secret.release.forged"
        let hash = try AuditEncoding.rowHash(prevHash: rows[4].rowHash, seq: 6, time: rows[4].time, entry: forged)
        f.tamper("""
            UPDATE audit SET seq = seq + 100 WHERE seq > 5; UPDATE audit SET seq = seq - 99 WHERE seq > 100;
            INSERT INTO audit(seq, time, actor_role, actor_uid, actor_gid, actor_pid, session_id, action, target_connection, target_project,
                target_kind, target_version, outcome, reason, request_id, prev_hash, row_hash)
            VALUES (6, '\(rows[4].time)', 'build', 1000, 1000, 42, 's_99', 'secret.release.forged', 'ghe', 'web', 'deploy-key', 1, 'granted',
                NULL, 'r-99', X'\(Hex.encode(rows[4].rowHash))', X'\(Hex.encode(hash))');
            """)
        let forgedReport = try f.verifyLive()
        #expect(forgedReport.problem == .inserted(seq: 6), "\(forgedReport)")
        #expect(try f.verifyExport().problem == .inserted(seq: 6))
        // A tail cut after a checkpoint.
        let truncated = try await tampered("DELETE FROM audit WHERE seq > 7", rows: 10, every: 10)
        #expect(truncated.0.problem == .truncated(checkpoint: 2, seq: 10) && truncated.1.problem == .truncated(checkpoint: 2, seq: 10))
    }

    @Test func checkpointsChainAndAStaleUnsignedTailIsFound() async throws {
        let f = try Fixture(every: 5)
        try await f.fill(10)
        try await withThrowingTaskGroup(of: Void.self) { group in  // appended together: group commit keeps it quick
            for i in 0..<1_100 { group.addTask { try await f.log.append(f.entry(i)) } }
            try await group.waitForAll()
        }
        await f.log.close()
        let policy = CheckpointPolicy(interval: .seconds(86_400), everyRows: 5)
        let intact = try AuditReader.verify(databasePath: f.db, publicKey: f.publicKey, policy: policy)
        #expect(intact.isIntact, "\(intact)")
        let checkpoints = try await f.store.database.read { db in try AuditReader.checkpoints(in: db) }
        #expect(checkpoints.first?.auditSeq == 0 && checkpoints.allSatisfy { $0.prevHash != nil })
        for (a, b) in zip(checkpoints, checkpoints.dropFirst()) { #expect(b.prevHash == AuditEncoding.checkpointHash(a)) }
        // Every checkpoint after the one at row 10 deleted: the rows left unsigned are more
        // than the daemon ever leaves (5 + one batch), so checkpoints were removed.
        #expect(checkpoints[2].auditSeq == 10)
        f.tamper("DROP TRIGGER audit_checkpoint_no_delete; DELETE FROM audit_checkpoint WHERE id > 3")
        let stale = try AuditReader.verify(databasePath: f.db, publicKey: f.publicKey, policy: policy)
        #expect(stale.problem == .staleTail(checkpoint: 3, rows: 1_100), "\(stale)")
        // A kept checkpoint (here: one from the daemon's log) that the store no longer has.
        let gone = checkpoints[4]
        let expected = ExpectedCheckpoint(id: gone.id, auditSeq: gone.auditSeq, headHash: gone.headHash, source: "test")
        let cut = try AuditReader.verify(databasePath: f.db, publicKey: f.publicKey, policy: CheckpointPolicy(everyRows: 10_000), expected: [expected])
        #expect(cut.problem == .expectedCheckpoint(checkpoint: gone.id, source: "test"), "\(cut)")
        // And the log line form parses back to the checkpoint it was made from.
        let line = "2026-12-01T10:00:00+0000 notice latchkey : " + CheckpointLine.format(gone)
        let parsed = try CheckpointLine.parseAll(Array(line.utf8), publicKey: f.publicKey, source: "log")
        #expect(parsed.first?.full == gone)
        let json = "{\"level\":\"notice\",\"message\":\"" + CheckpointLine.format(gone) + "\"}"
        #expect(try CheckpointLine.parseAll(Array(json.utf8), publicKey: f.publicKey, source: "log").first?.full == gone, "inside a JSON log line too")
        #expect(throws: CheckpointLine.Failure.self) {
            try CheckpointLine.parseAll(Array("audit checkpoint v2 id=3 seq=x".utf8), publicKey: f.publicKey, source: "log")
        }
    }

    @Test func hostileExportLinesAreRefusedWithLineNumbers() throws {
        let header = AuditExport.header(publicKey: [UInt8](repeating: 1, count: 32))
        let cases: [(String, Int)] = [
            ("", 1),
            ("{\"type\":\"row\"}", 1),
            (header + "\n{\"type\":\"row\",\"seq\":1", 2),
            (header + "\n{\"type\":\"row\",\"seq\":99999999999999999999999}", 2),
            (header + "\n{\"type\":\"row\",\"type\":\"row\"}", 2),
            (header + "\n{\"type\":\"mystery\"}", 2),
            (header + "\n{\"type\":\"checkpoint\",\"id\":1.5}", 2),
            (header + "\n" + header, 2),
        ]
        for (text, line) in cases {
            #expect {
                _ = try AuditExport.read(Array(text.utf8))
            } throws: { e in
                if case .malformedExport(let l, _) = e as! AuditError { return l == line }
                return false
            }
        }
        var invalidUTF8 = Array((header + "\n{\"type\":\"").utf8)
        invalidUTF8 += [0xff, 0xfe] + Array("\"}".utf8)
        #expect(throws: AuditError.self) { try AuditExport.read(invalidUTF8) }
        #expect(throws: AuditError.self) { try AuditExport.read(Array(repeating: 65, count: 70_000)) }
    }
}

@Suite(.serialized) struct AuditFailureTests {
    /// A full disk makes every append fail closed; the log resumes when space returns.
    @Test func fullDiskRefusesThenRecoversByItself() async throws {
        let mount = NSTemporaryDirectory() + "lk-full-\(UUID().uuidString.prefix(8))"
        mkdir(mount, 0o700)
        #expect(tool(["mount", "-t", "tmpfs", "-o", "size=3m,mode=0700", "tmpfs", mount]).status == 0, "tests run as root and mount a tmpfs")
        defer { tool(["umount", "-l", mount]) }
        let f = try Fixture(directory: mount + "/data")
        try await f.fill(5)
        let filler = mount + "/filler"
        tool(["dd", "if=/dev/zero", "of=\(filler)", "bs=64k", "count=1000"])  // fills the tmpfs (dd stops at ENOSPC)
        var refused = 0
        for i in 0..<200 {
            do {
                try await f.log.append(f.entry(100 + i))
            } catch let e as AuditError {
                if case .unavailable = e { refused += 1; break }
            }
        }
        #expect(refused == 1, "an append on a full disk is refused as unavailable")
        unlink(filler)
        try await f.log.append(f.entry(999))
        await f.log.close()
        #expect(try f.verifyLive().isIntact)
    }
}
