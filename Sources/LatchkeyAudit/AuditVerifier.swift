import LatchkeyCrypto
public import LatchkeyStore

/// What a verification found.
public struct VerificationReport: Sendable, Equatable, CustomStringConvertible {
    public enum Problem: Sendable, Equatable {
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

        public var seq: Int64 {
            switch self {
            case .changed(let s), .missing(let s), .reordered(let s), .inserted(let s): s
            case .truncated(_, let s), .checkpointMismatch(_, let s): s
            case .badSignature: 0
            }
        }
    }

    public var rowsChecked = 0
    public var checkpointsChecked = 0
    public var firstSeq: Int64 = 0
    public var lastSeq: Int64 = 0
    /// Rows after the last checkpoint: chained, but not yet covered by a signature.
    public var unsignedTail = 0
    public var problem: Problem?

    public var isIntact: Bool { problem == nil }

    public var description: String {
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
        }
        return s
    }
}

/// Checks a chain and its checkpoints with only the audit public key.
public enum AuditVerifier {
    /// `records` in the order they are stored (by seq). A partial chain (an export with
    /// `--since`) starts from its first row's previous hash.
    public static func verify(records: [AuditRecord], checkpoints: [Checkpoint], publicKey: [UInt8]) -> VerificationReport {
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
        var scratch: [UInt8] = []
        scratch.reserveCapacity(512)
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
                } else if i > 0, AuditEncoding.rowHash(prevHash: records[i - 1].prevHash, seq: records[i - 1].seq, time: records[i - 1].time, entry: records[i - 1].entry, scratch: &scratch) != records[i - 1].rowHash {
                    report.problem = .changed(seq: records[i - 1].seq)
                } else {
                    report.problem = .missing(seq: r.seq)
                }
                return report
            }
            let computed = AuditEncoding.rowHash(prevHash: prev, seq: r.seq, time: r.time, entry: r.entry, scratch: &scratch)
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
            let message = AuditEncoding.checkpointMessage(id: cp.id, auditSeq: cp.auditSeq, headHash: cp.headHash, time: cp.time)
            guard cp.publicKey == publicKey, ed25519Verify(signature: cp.signature, message: message, publicKey: publicKey) else {
                report.problem = .badSignature(checkpoint: cp.id)
                return report
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
