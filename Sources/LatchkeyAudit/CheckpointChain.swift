package import LatchkeyStore
import LatchkeyCrypto

/// How often the daemon signs checkpoints, which is what `audit verify` and the daemon's
/// start-up hold an unsigned tail to. The writer signs every `everyRows` rows in the same
/// transaction, and every `interval` in which rows were added; `slack` allows for a
/// checkpoint held up behind a long transaction (a master-key rotation of many secrets).
package struct CheckpointPolicy: Sendable, Equatable {
    package var interval: Duration
    package var everyRows: Int
    package var slack: Duration

    package init(interval: Duration = .seconds(60), everyRows: Int = 1000, slack: Duration = .seconds(60)) {
        self.interval = interval
        self.everyRows = everyRows
        self.slack = slack
    }

    package static let standard = CheckpointPolicy()

    /// Most rows a tail may hold: the row trigger plus one batch that crossed it.
    var maxTailRows: Int { everyRows + AuditLog.maxBatch }
    var maxTailSpanMicroseconds: Int64 {
        let d = interval + slack
        return d.components.seconds * 1_000_000 + d.components.attoseconds / 1_000_000_000_000
    }
}

/// A checkpoint known from outside the store: one an auditor kept (`--expect-checkpoint
/// ID:SEQ:HEAD`), or a line of the daemon's log or witness file (every field).
package struct ExpectedCheckpoint: Sendable, Equatable {
    package var id: Int64
    package var auditSeq: Int64
    package var headHash: [UInt8]
    /// The whole checkpoint when a log line gave it (its signature is checked too).
    package var full: Checkpoint?
    /// Where it came from, for the report ("--expect-checkpoint", "log line 12").
    package var source: String

    package init(id: Int64, auditSeq: Int64, headHash: [UInt8], full: Checkpoint? = nil, source: String) {
        self.id = id
        self.auditSeq = auditSeq
        self.headHash = headHash
        self.full = full
        self.source = source
    }

    /// `ID:SEQ:HEAD` (HEAD as 64 hex digits), as the daemon's checkpoint line gives them.
    package init?(argument: String) {
        let parts = argument.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, let id = Int64(parts[0]), id >= 1, let seq = Int64(parts[1]), seq >= 0,
            let head = Hex.decode(String(parts[2])), head.count == 32
        else { return nil }
        self.init(id: id, auditSeq: seq, headHash: head, source: "--expect-checkpoint \(argument)")
    }
}

/// The rows after the last checkpoint, as the tail rule needs them.
struct TailFacts: Sendable {
    var rows = 0
    var firstTime: Timestamp?
    var lastTime: Timestamp?
}

/// Checks that go beyond the row chain: the checkpoints chain to each other (ids 1, 2, …
/// with no gap, each naming its predecessor's hash, covering ever more rows), there is at
/// least one, the unsigned tail is no older than the policy allows, and every checkpoint
/// known from outside is in the store as it was signed.
///
/// What none of this can do: tell a log whose newest rows and checkpoints were cut off
/// within one interval from a log that simply ended there. Only a checkpoint kept outside
/// the store (the daemon's log, a witness, one an auditor noted) proves a tail.
///
/// `signaturesVerified`: the caller has already checked every stored checkpoint's
/// signature (the streaming check does, on its threads), so each is not checked twice.
enum CheckpointChain {
    static func check(
        _ report: inout VerificationReport, checkpoints: [Checkpoint], publicKey: [UInt8], tail: TailFacts, policy: CheckpointPolicy,
        expected: [ExpectedCheckpoint], signaturesVerified: Bool = false
    ) {
        guard report.problem == nil else { return }
        let sorted = checkpoints.sorted { $0.id < $1.id }
        guard let last = sorted.last else {
            report.problem = .noCheckpoint
            return
        }
        var previous: Checkpoint?
        for cp in sorted {
            guard signaturesVerified || cp.verifies(with: publicKey) else {
                report.problem = .badSignature(checkpoint: cp.id)
                return
            }
            let expectedID = (previous?.id ?? 0) + 1
            if cp.id != expectedID {
                report.problem = .checkpointMissing(checkpoint: expectedID)
                return
            }
            if let p = previous, cp.auditSeq < p.auditSeq {
                report.problem = .checkpointOutOfOrder(checkpoint: cp.id)
                return
            }
            if let prevHash = cp.prevHash {
                let link = previous.map(AuditEncoding.checkpointHash) ?? AuditEncoding.zeroHash
                guard constantTimeEquals(prevHash, link) else {
                    report.problem = .checkpointMissing(checkpoint: cp.id - 1)
                    return
                }
            } else if previous?.prevHash != nil {
                report.problem = .checkpointOutOfOrder(checkpoint: cp.id)  // a v1 checkpoint after a chained one
                return
            }
            previous = cp
        }
        if tail.rows > 0 {
            let span = (tail.lastTime?.microseconds ?? 0) - (tail.firstTime?.microseconds ?? 0)
            if tail.rows > policy.maxTailRows || span > policy.maxTailSpanMicroseconds {
                report.problem = .staleTail(checkpoint: last.id, rows: tail.rows)
                return
            }
        }
        let byID = Dictionary(sorted.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        // A checkpoint signed after everything the store holds — newer than its last
        // checkpoint, over rows past its last row — is what a store restored from an older
        // backup (or cut back) looks like. Those the store should hold are checked first
        // (one that disagrees is worse news); then the newest of the others is reported.
        var behind: ExpectedCheckpoint?
        for e in expected {
            if byID[e.id] == nil, e.id > last.id, e.auditSeq > report.lastSeq {
                if behind.map({ e.auditSeq > $0.auditSeq }) ?? true { behind = e }
                continue
            }
            guard let cp = byID[e.id], cp.auditSeq == e.auditSeq, cp.headHash == e.headHash else {
                report.problem = .expectedCheckpoint(checkpoint: e.id, source: e.source)
                return
            }
            if let full = e.full {
                guard full.verifies(with: publicKey), full.signature == cp.signature, full.time == cp.time, full.prevHash == cp.prevHash else {
                    report.problem = .expectedCheckpoint(checkpoint: e.id, source: e.source)
                    return
                }
            }
        }
        if let behind {
            report.problem = .behindCheckpoint(checkpoint: behind.id, seq: behind.auditSeq, storeEnds: report.lastSeq, source: behind.source)
        }
    }
}
