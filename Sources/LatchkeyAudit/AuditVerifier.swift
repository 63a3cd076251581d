import LatchkeyCrypto
package import LatchkeyStore

/// What a verification found.
package struct VerificationReport: Sendable, Equatable, CustomStringConvertible {
    package enum Problem: Sendable, Equatable {
        /// The row's content no longer matches its hash.
        case changed(seq: Int64)
        /// A row is gone: the chain skips `seq`.
        case missing(seq: Int64)
        /// Rows are out of order: the row at `seq` chains to a row that is not its predecessor.
        case reordered(seq: Int64)
        /// A row that was never written by the daemon sits at `seq`.
        case inserted(seq: Int64)
        /// Rows after checkpoint `checkpoint` (which covered up to `seq`) are gone.
        case truncated(checkpoint: Int64, seq: Int64)
        /// Checkpoint `checkpoint`'s signature does not verify with the public key.
        case badSignature(checkpoint: Int64)
        /// Checkpoint `checkpoint` names a head hash the row at `seq` does not have.
        case checkpointMismatch(checkpoint: Int64, seq: Int64)
        /// The row at `seq` could never have been written by the daemon (a value out of
        /// range, a wrong type, a time not in the stored form, invalid UTF-8).
        case malformed(seq: Int64, reason: String)
        /// There is no checkpoint at all (every store has one from its first start).
        case noCheckpoint
        /// Checkpoint `checkpoint` is gone: the ids skip it, or the next one names another.
        case checkpointMissing(checkpoint: Int64)
        /// Checkpoint `checkpoint` covers fewer rows than the one before it, or is of the
        /// old unchained form after chained ones.
        case checkpointOutOfOrder(checkpoint: Int64)
        /// `rows` rows after the last checkpoint (`checkpoint`) are more, or span more time,
        /// than the daemon lets go unsigned: the checkpoints after it were removed.
        case staleTail(checkpoint: Int64, rows: Int)
        /// Checkpoint `checkpoint`, known from outside the store (`source`), is not in it
        /// as it was signed: the log was cut back or rewritten past it.
        case expectedCheckpoint(checkpoint: Int64, source: String)
        /// Checkpoint `checkpoint`, known from outside the store (`source`), covers seq
        /// `seq`, past the store's last row `storeEnds`: the store is older than what the
        /// operator holds — restored from an older backup, or cut back — and the rows
        /// after `storeEnds` up to `seq` are not in it.
        case behindCheckpoint(checkpoint: Int64, seq: Int64, storeEnds: Int64, source: String)

        package var seq: Int64 {
            switch self {
            case .changed(let s), .missing(let s), .reordered(let s), .inserted(let s), .malformed(let s, _): s
            case .truncated(_, let s), .checkpointMismatch(_, let s): s
            case .behindCheckpoint(_, _, let storeEnds, _): storeEnds + 1
            case .badSignature, .noCheckpoint, .checkpointMissing, .checkpointOutOfOrder, .staleTail, .expectedCheckpoint: 0
            }
        }
    }

    package var rowsChecked = 0
    package var checkpointsChecked = 0
    package var firstSeq: Int64 = 0
    package var lastSeq: Int64 = 0
    /// Rows after the last checkpoint: chained, but not yet covered by a signature.
    package var unsignedTail = 0
    package var problem: Problem?

    package var isIntact: Bool { problem == nil }

    package var description: String {
        var s = "\(rowsChecked) row(s) (seq \(firstSeq)–\(lastSeq)) and \(checkpointsChecked) checkpoint(s) checked"
        if unsignedTail > 0 { s += "; \(unsignedTail) row(s) after the last checkpoint" }
        guard let problem else { return s + ": intact" }
        switch problem {
        case .changed(let q): s += "\nFAILED at seq \(q): the row was changed (its content does not match its hash)"
        case .missing(let q): s += "\nFAILED at seq \(q): the row is missing (deleted)"
        case .reordered(let q): s += "\nFAILED at seq \(q): rows were reordered"
        case .inserted(let q): s += "\nFAILED at seq \(q): a row was inserted that the daemon never wrote"
        case .truncated(let c, let q): s += "\nFAILED: the log was truncated after checkpoint \(c) (which covers seq \(q))"
        case .badSignature(let c): s += "\nFAILED: checkpoint \(c) has a bad signature"
        case .checkpointMismatch(let c, let q): s += "\nFAILED at seq \(q): checkpoint \(c) names another head hash"
        case .malformed(let q, let r): s += "\nFAILED at seq \(q): the row could never have been written by the daemon (\(r))"
        case .noCheckpoint: s += "\nFAILED: there is no checkpoint (every store has one from its first start): they were deleted"
        case .checkpointMissing(let c): s += "\nFAILED: checkpoint \(c) is missing (the checkpoint chain skips it or was re-signed past it)"
        case .checkpointOutOfOrder(let c): s += "\nFAILED: checkpoint \(c) is out of order"
        case .staleTail(let c, let n):
            s += "\nFAILED: \(n) row(s) after checkpoint \(c) are more, or span longer, than the daemon leaves unsigned: later checkpoints were removed"
        case .expectedCheckpoint(let c, let src):
            s += "\nFAILED: checkpoint \(c) from \(src) is not in the log as signed: the log was cut back or rewritten after it"
        case .behindCheckpoint(let c, let q, let n, let src):
            s += "\nFAILED: this store ends at seq \(n); the checkpoint you hold (checkpoint \(c), from \(src)) covers seq \(q) > \(n): "
                + "the store was restored from an older backup (or cut back): rows \(n + 1)–\(q) are not in it"
        }
        return s
    }
}

/// Checks a chain and its checkpoints with only the audit public key.
package enum AuditVerifier {
    /// `records` in the order they are stored (by seq). A partial chain (an export with
    /// `--since`) starts from its first row's previous hash.
    package static func verify(
        records: [AuditRecord], checkpoints: [Checkpoint], publicKey: [UInt8], policy: CheckpointPolicy = .standard,
        expected: [ExpectedCheckpoint] = []
    ) -> VerificationReport {
        var report = verifyRows(records: records, checkpoints: checkpoints, publicKey: publicKey)
        let lastCovered = checkpoints.map(\.auditSeq).max() ?? 0
        var tail = TailFacts()
        for r in records where r.seq > lastCovered {
            tail.rows += 1
            tail.firstTime = tail.firstTime ?? r.time
            tail.lastTime = r.time
        }
        CheckpointChain.check(&report, checkpoints: checkpoints, publicKey: publicKey, tail: tail, policy: policy, expected: expected)
        return report
    }

    /// The rows and each checkpoint's signature and head (not yet the checkpoints' chain).
    static func verifyRows(records: [AuditRecord], checkpoints: [Checkpoint], publicKey: [UInt8]) -> VerificationReport {
        var report = VerificationReport()
        report.firstSeq = records.first?.seq ?? 0
        report.lastSeq = records.last?.seq ?? 0
        // Where each stored hash sits, to tell a reordered row from an inserted one.
        var position: [[UInt8]: Int] = [:]
        position.reserveCapacity(records.count)
        for (i, r) in records.enumerated() { position[r.rowHash] = i }
        var prev = records.first.map { $0.seq == 1 ? AuditEncoding.zeroHash : $0.prevHash } ?? AuditEncoding.zeroHash
        var expected = records.first?.seq ?? 1
        if expected != 1 && records.first?.prevHash.count != 32 { expected = 1 }
        let scratch = AuditRowBuffer()
        func hash(_ r: AuditRecord, after prev: [UInt8]) -> Result<[UInt8], AuditRowError> {
            Result { () throws(AuditRowError) -> [UInt8] in try AuditEncoding.rowHash(prevHash: prev, seq: r.seq, time: r.time, entry: r.entry, scratch: scratch) }
        }
        var hashAt: [Int64: [UInt8]] = [:]
        for (i, r) in records.enumerated() {
            if r.seq != expected {
                report.problem = r.seq > expected ? .missing(seq: expected) : .reordered(seq: r.seq)
                return report
            }
            if r.prevHash != prev {
                if let j = position[r.prevHash], j == i - 2 {
                    report.problem = .inserted(seq: records[i - 1].seq)
                } else if position[r.prevHash] != nil {
                    report.problem = .reordered(seq: r.seq)
                } else if i > 0, (try? hash(records[i - 1], after: records[i - 1].prevHash).get()) != records[i - 1].rowHash {
                    report.problem = .changed(seq: records[i - 1].seq)
                } else {
                    report.problem = .missing(seq: r.seq)
                }
                return report
            }
            let computed: [UInt8]
            switch hash(r, after: prev) {
            case .success(let h): computed = h
            case .failure(let e):
                report.problem = .malformed(seq: e.seq, reason: e.reason)
                return report
            }
            guard computed == r.rowHash else {
                report.problem = .changed(seq: r.seq)
                return report
            }
            hashAt[r.seq] = r.rowHash
            prev = r.rowHash
            expected += 1
            report.rowsChecked += 1
        }
        var lastCovered: Int64 = 0
        for cp in checkpoints.sorted(by: { $0.id < $1.id }) {
            guard cp.verifies(with: publicKey) else {
                report.problem = .badSignature(checkpoint: cp.id)
                return report
            }
            if cp.auditSeq == 0 {
                // The first start's checkpoint, over the empty log.
                guard cp.headHash == AuditEncoding.zeroHash else {
                    report.problem = .checkpointMismatch(checkpoint: cp.id, seq: 0)
                    return report
                }
                report.checkpointsChecked += 1
                continue
            }
            if cp.auditSeq > report.lastSeq {
                report.problem = .truncated(checkpoint: cp.id, seq: cp.auditSeq)
                return report
            }
            if cp.auditSeq >= report.firstSeq {
                guard hashAt[cp.auditSeq] == cp.headHash else {
                    report.problem = .checkpointMismatch(checkpoint: cp.id, seq: cp.auditSeq)
                    return report
                }
            }
            lastCovered = max(lastCovered, cp.auditSeq)
            report.checkpointsChecked += 1
        }
        report.unsignedTail = Int(max(0, report.lastSeq - max(lastCovered, report.firstSeq - 1)))
        return report
    }
}
