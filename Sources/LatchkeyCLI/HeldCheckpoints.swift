import ArgumentParser
import Foundation
import LatchkeyAudit

/// Checkpoints the operator keeps outside the store — one noted by hand
/// (`--expect-checkpoint ID:SEQ:HEAD`) or every checkpoint line of the daemon's log or
/// witness file (`--log FILE`) — which `audit verify`, `backup verify` and `restore` hold
/// a store or backup to: each one it should hold must be in it as signed, and one newer
/// than all it holds says it is older than what the operator knows (restored from an
/// older backup, or cut back).
struct HeldCheckpointOptions: ParsableArguments {
    @Option(name: .customLong("expect-checkpoint"), help: ArgumentHelp(
        "A checkpoint kept outside the store, as ID:SEQ:HEAD (from the daemon's log line: id=, seq=, head=); repeatable.",
        valueName: "ID:SEQ:HEAD"))
    var expectCheckpoint: [String] = []
    @Option(name: .customLong("log"), help: ArgumentHelp(
        "A daemon log (or checkpoint witness) file: every checkpoint line in it must be in the log as signed; repeatable.",
        valueName: "FILE"))
    var logFiles: [String] = []

    var isEmpty: Bool { expectCheckpoint.isEmpty && logFiles.isEmpty }

    /// Every checkpoint given, the log lines' signatures to be checked with `publicKey`
    /// (the key the rest is checked with: log lines carry none).
    func checkpoints(publicKey: [UInt8]) throws -> [ExpectedCheckpoint] {
        var out: [ExpectedCheckpoint] = []
        for e in expectCheckpoint {
            guard let cp = ExpectedCheckpoint(argument: e) else {
                throw InputError("--expect-checkpoint \(e) is not ID:SEQ:HEAD (two numbers and 64 hex digits, as the daemon's checkpoint line gives id=, seq= and head=)")
            }
            out.append(cp)
        }
        for file in logFiles {
            guard let data = FileManager.default.contents(atPath: file) else { throw InputError("cannot read --log \(file)") }
            let found = try CheckpointLine.parseAll(Array(data), publicKey: publicKey, source: file)
            if found.isEmpty { printError("note: --log \(file) holds no checkpoint line") }
            out += found
        }
        return out
    }
}

/// What `backup verify` and `restore` say, with --json, about a backup older than a
/// checkpoint the operator holds.
struct BehindCheckpoint: Encodable {
    var checkpoint: Int64
    var checkpointSeq: Int64
    var backupEndsAt: Int64
    var source: String

    init?(_ problem: VerificationReport.Problem?) {
        guard case .behindCheckpoint(let c, let q, let n, let s) = problem else { return nil }
        checkpoint = c
        checkpointSeq = q
        backupEndsAt = n
        source = s
    }

    /// For a backup, being older than the newest checkpoint is the normal case (the
    /// daemon went on after it); what matters is how much a restore would lose.
    var note: String {
        "this backup ends at seq \(backupEndsAt); the checkpoint you hold (checkpoint \(checkpoint), from \(source)) covers seq \(checkpointSeq) > \(backupEndsAt): "
            + "a store restored from it is older than that checkpoint — rows \(backupEndsAt + 1)–\(checkpointSeq) and the changes they record (revocations among them) are not in it"
    }
}
