import Foundation
import LatchkeyAudit
import LatchkeyStore
import Testing

/// A store held to checkpoints kept outside it: one signed after everything the store holds
/// says the store is older (restored from an older backup, or cut back) and by how much; a
/// checkpoint the store should hold but holds differently is the worse finding and wins.
@Suite(.serialized) struct HeldCheckpointTests {
    @Test func aCheckpointNewerThanTheWholeStoreReportsItBehind() async throws {
        let f = try Fixture(every: 5)
        try await f.fill(10)
        let older = f.dir + "/older.backup"
        try await StoreBackup.snapshot(f.store, to: older)
        try await f.fill(10)
        await f.log.close()
        let all = try await f.store.database.read { db in try AuditReader.checkpoints(in: db) }
        let inBackup = try #require(all.last { $0.auditSeq <= 10 })
        let newest = try #require(all.last)
        #expect(newest.auditSeq >= 20)
        func held(_ cp: Checkpoint, head: [UInt8]? = nil, source: String) -> ExpectedCheckpoint {
            ExpectedCheckpoint(id: cp.id, auditSeq: cp.auditSeq, headHash: head ?? cp.headHash, source: source)
        }

        // The live store holds them all.
        #expect(try AuditReader.verify(databasePath: f.db, publicKey: f.publicKey, expected: [held(newest, source: "log")]).isIntact)
        // The older copy: intact by itself, behind the newest checkpoint.
        #expect(try AuditReader.verify(databasePath: older, publicKey: f.publicKey).isIntact)
        let behind = try AuditReader.verify(
            databasePath: older, publicKey: f.publicKey, expected: [held(inBackup, source: "log line 3"), held(newest, source: "log line 9")])
        #expect(behind.problem == .behindCheckpoint(checkpoint: newest.id, seq: newest.auditSeq, storeEnds: 10, source: "log line 9"), "\(behind)")
        #expect(behind.description.contains(
            "this store ends at seq 10; the checkpoint you hold (checkpoint \(newest.id), from log line 9) covers seq \(newest.auditSeq) > 10: the store was restored from an older backup"))
        #expect(behind.problem?.seq == 11, "the first row it lacks")
        // Of several newer ones, the newest is named.
        let middle = try #require(all.first { $0.auditSeq > 10 && $0.id < newest.id })
        let named = try AuditReader.verify(
            databasePath: older, publicKey: f.publicKey, expected: [held(newest, source: "b"), held(middle, source: "a")])
        #expect(named.problem == .behindCheckpoint(checkpoint: newest.id, seq: newest.auditSeq, storeEnds: 10, source: "b"))
        // A checkpoint the copy holds, held with another head: rewritten, whatever else.
        let forged = try AuditReader.verify(
            databasePath: older, publicKey: f.publicKey,
            expected: [held(newest, source: "log"), held(inBackup, head: [UInt8](repeating: 7, count: 32), source: "kept")])
        #expect(forged.problem == .expectedCheckpoint(checkpoint: inBackup.id, source: "kept"), "\(forged)")
    }
}
