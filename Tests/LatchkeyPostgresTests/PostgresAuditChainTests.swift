import Foundation
import LatchkeyAudit
import LatchkeyCrypto
import LatchkeyPostgres
import LatchkeyStore
import LatchkeyTestSupport
import Testing

/// Several hosts' audit writers append to the one chain of a shared PostgreSQL store at
/// the same time, each on its own connections, as a fleet's daemons do.
@Suite(.enabled(if: PostgresServer.testsEnabled, Comment(rawValue: PostgresServer.skipMessage)))
struct PostgresAuditChainTests {
    /// A migrated database with the daemon's grants, and a way to open a host's store on it.
    private func fleet(_ server: PostgresServer) throws -> (String) throws -> Store {
        let name = try server.createDatabase()
        let (owner, _) = try PostgresDatabase.openAndMigrate(
            url: server.url(role: PostgresServer.ownerRole, database: name), passwordFile: try server.passwordFile(role: PostgresServer.ownerRole),
            environment: [:])
        try owner.write { db in
            for g in PostgresSchema.grantStatements(daemonRole: PostgresServer.daemonRole, database: name) { try db.execute(sql: g) }
        }
        return { tag in
            let dir = makeTempDirectory("chain-\(tag)") + "/data"
            try DataDirectory.prepare(dir, create: true)
            let db = try PostgresDatabase.openForDaemon(url: server.url(database: name), passwordFile: nil, environment: ["PGPASSFILE": try server.passfile()])
            return Store(directory: dir, database: db)
        }
    }

    private static func entry(host: String, _ n: Int) -> AuditEntry {
        AuditEntry(actor: .init(role: "runner", uid: 1000), action: "secret.release", target: .init(project: "ops-\(host)", kind: "token"),
                   outcome: .granted, requestID: "\(host)-\(n)")
    }

    @Test func threeHostsAppendingAtOnceMakeOneUnbrokenChainWithNoDuplicateOrMissingSeq() async throws {
        let server = try PostgresServer.shared()
        let host = try fleet(server)
        let keyFile = makeTempDirectory("chain-key") + "/master.key"
        let first = try host("a")
        let ring = try KeyRing.initialize(store: first, source: .keyFile(path: keyFile))
        try AuditLog.signFirstCheckpoint(store: first, signingKey: ring.auditSigning)
        let stores = [first, try host("b"), try host("c")]
        // A checkpoint every 25 rows: the writers also race to sign the fleet's head.
        let logs = try zip(stores, ["a", "b", "c"]).map { store, name in
            try AuditLog(
                store: store, signingKey: ring.auditSigning, checkpointEveryRows: 25, checkpointInterval: .seconds(3600), host: "host-\(name)"
            ) { _ in }
        }
        let perHost = 150
        let seqs = try await withThrowingTaskGroup(of: [Int64].self) { group in
            for (i, log) in logs.enumerated() {
                let name = ["a", "b", "c"][i]
                // Several callers per host, so each writer also groups rows into batches.
                for caller in 0..<3 {
                    group.addTask {
                        var mine: [Int64] = []
                        for n in stride(from: caller, to: perHost, by: 3) { mine.append(try await log.append(Self.entry(host: name, n)).seq) }
                        return mine
                    }
                }
            }
            return try await group.reduce(into: [Int64]()) { $0 += $1 }
        }
        for log in logs { try await log.checkpoint() }
        for log in logs { await log.close() }

        // Every acknowledged row has its own seq, and together they are 1…N with no gap.
        #expect(seqs.count == 3 * perHost)
        #expect(Set(seqs).count == seqs.count, "no seq handed out twice")
        #expect(seqs.sorted() == Array(1...Int64(3 * perHost)), "no seq missing")
        let report = try AuditReader.verify(store: first, publicKey: ring.auditSigning.publicKey)
        #expect(report.isIntact, "\(report.description)")
        #expect(report.rowsChecked == 3 * perHost && report.unsignedTail == 0, "\(report.description)")
        // Each batch crossed the 25-row mark at most once: about one checkpoint per 25 rows, not one per host.
        #expect(report.checkpointsChecked >= 3 * perHost / (25 + AuditLog.maxBatch) && report.checkpointsChecked <= 3 * perHost / 25 + 4, "\(report.description)")
        // Each host's rows are all there, and each says which host wrote it.
        for name in ["a", "b", "c"] {
            let hosts = try await first.database.read { db in
                try SQLRow.fetchAll(db, sql: "SELECT host FROM audit WHERE target_project = ? ORDER BY seq", arguments: ["ops-\(name)"])
                    .map { $0["host"] as String? }
            }
            #expect(hosts.count == perHost && hosts.allSatisfy { $0 == "host-\(name)" })
        }
        // The host is in the row's hash: moved to another host, or dropped, the row no longer verifies.
        let (records, checkpoints) = try await first.database.read { db in
            (try AuditReader.records(in: db), try AuditReader.checkpoints(in: db))
        }
        for forged in ["host-z", nil] as [String?] {
            var edited = records
            edited[10].entry.host = forged
            let report = AuditVerifier.verify(records: edited, checkpoints: checkpoints, publicKey: ring.auditSigning.publicKey)
            #expect(report.problem == .changed(seq: edited[10].seq), "\(report.description)")
        }
    }

    /// A batch's lone rows go to PostgreSQL in multi-row INSERTs; a row with a change of
    /// its own still has its savepoint, so a failed change refuses only its row.
    @Test func aBatchOfManyRowsWithChangesBetweenKeepsItsOrderAndRefusesOnlyTheFailedChange() async throws {
        struct ChangeRefused: Error {}
        let server = try PostgresServer.shared()
        let store = try fleet(server)("grouped")
        let ring = try KeyRing.initialize(store: store, source: .keyFile(path: makeTempDirectory("grouped-key") + "/master.key"))
        try AuditLog.signFirstCheckpoint(store: store, signingKey: ring.auditSigning)
        let log = try AuditLog(store: store, signingKey: ring.auditSigning, checkpointEveryRows: 100, checkpointInterval: .seconds(3600), host: "host-a") { _ in }
        let total = 3 * AuditLog.rowsPerInsert + 40
        let answers = Answers()
        let results: [Int: Result<Int64, any Error>] = await withCheckedContinuation { finished in
            answers.whenAll(total) { finished.resume(returning: $0) }
            for n in 0..<total {
                let entry = Self.entry(host: "a", n)
                guard n % 97 == 50 else {
                    log.append(entry) { answers.note(n, $0.map(\.seq)) }
                    continue
                }
                // Every 97th row has a change; every other one of those fails.
                let fails = (n / 97) % 2 == 0
                Task {
                    do {
                        _ = try await log.append(entry) { db -> Int64 in
                            if fails { throw ChangeRefused() }
                            return try Int64.fetchOne(db, sql: "SELECT 1") ?? 0
                        }
                        let seq = try await store.database.read { db in
                            try Int64.fetchOne(db, sql: "SELECT seq FROM audit WHERE request_id = ?", arguments: [entry.requestID]) ?? 0
                        }
                        answers.note(n, .success(seq))
                    } catch { answers.note(n, .failure(error)) }
                }
            }
        }
        // The rows were appended faster than transactions commit: the batches were large.
        #expect(log.transactionCount < total / 2, "\(log.transactionCount) transactions")
        try await log.checkpoint()
        await log.close()
        let refused = results.filter { if case .failure = $0.value { true } else { false } }.keys.sorted()
        #expect(refused == (0..<total).filter { $0 % 97 == 50 && ($0 / 97) % 2 == 0 }, "only the failed changes are refused")
        let seqs = results.compactMap { try? $0.value.get() }
        #expect(seqs.sorted() == Array(1...Int64(total - refused.count)), "every other row has its own seq, none missing")
        // The chain holds the lone rows in the order they were appended.
        let order = try await store.database.read { db in
            try SQLRow.fetchAll(db, sql: "SELECT request_id FROM audit ORDER BY seq").map { $0["request_id"] as String? ?? "" }
        }
        let lone = order.compactMap { Int($0.dropFirst(2)) }.filter { $0 % 97 != 50 }
        #expect(lone == (0..<total).filter { $0 % 97 != 50 })
        let report = try AuditReader.verify(store: store, publicKey: ring.auditSigning.publicKey)
        #expect(report.isIntact && report.rowsChecked == total - refused.count, "\(report.description)")
    }

    @Test func aCheckpointAnotherHostAlreadySignedOverTheHeadIsNotSignedAgain() async throws {
        let server = try PostgresServer.shared()
        let host = try fleet(server)
        let keyFile = makeTempDirectory("chain-key") + "/master.key"
        let a = try host("a")
        let ring = try KeyRing.initialize(store: a, source: .keyFile(path: keyFile))
        try AuditLog.signFirstCheckpoint(store: a, signingKey: ring.auditSigning)
        let logA = try AuditLog(store: a, signingKey: ring.auditSigning) { _ in }
        let b = try host("b")
        let logB = try AuditLog(store: b, signingKey: ring.auditSigning) { _ in }
        try await logA.append(Self.entry(host: "a", 1))
        try await logB.append(Self.entry(host: "b", 1))  // B extends the head A wrote
        try await logA.checkpoint()  // A signs the fleet's head, row 2
        try await logB.checkpoint()  // B finds it signed
        let checkpoints = try await a.database.read { db in try AuditReader.checkpoints(in: db) }
        #expect(checkpoints.map(\.auditSeq) == [0, 2])
        await logA.close()
        await logB.close()
        #expect(try AuditReader.verify(store: a, publicKey: ring.auditSigning.publicKey).isIntact)
    }
}

/// The answers of many appends, handed over once all of them came.
private final class Answers: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [Int: Result<Int64, any Error>] = [:]
    private var expected = 0
    private var finished: (([Int: Result<Int64, any Error>]) -> Void)?

    func whenAll(_ count: Int, _ body: @escaping ([Int: Result<Int64, any Error>]) -> Void) {
        lock.withLock { (expected, finished) = (count, body) }
    }

    func note(_ n: Int, _ result: Result<Int64, any Error>) {
        let done: (([Int: Result<Int64, any Error>]) -> Void, [Int: Result<Int64, any Error>])? = lock.withLock {
            results[n] = result
            guard results.count == expected, let f = finished else { return nil }
            finished = nil
            return (f, results)
        }
        if let (f, all) = done { f(all) }
    }
}
