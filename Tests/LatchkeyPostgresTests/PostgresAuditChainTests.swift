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
