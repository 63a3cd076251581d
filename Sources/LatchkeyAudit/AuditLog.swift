package import GRDB
public import LatchkeyCrypto
public import LatchkeyStore
import Foundation

/// The single writer of the store, with group commit.
///
/// Appends that arrive while a transaction is in flight wait together and go into the
/// next one: one transaction, one fsync (synchronous=FULL), then every caller resumes.
/// An append returns only once its row is durable. A change handed in with its entry
/// runs in the same transaction, in its own savepoint: if it throws, neither it nor its
/// row is written and only that caller sees the error. If the transaction fails, every
/// caller of the batch gets `unavailable`, the chain head stays where it was, and the
/// next append simply tries again.
public actor AuditLog {
    private let store: Store
    private let signingKey: Ed25519SigningKey
    private let checkpointEveryRows: Int
    private let checkpointInterval: Duration
    private let log: @Sendable (String) -> Void

    private var head: (seq: Int64, hash: [UInt8])
    private var lastCheckpoint: (id: Int64, seq: Int64)
    private var pending: [Pending] = []
    private var flushing = false
    private var closed = false
    private var timer: Task<Void, Never>?
    public private(set) var transactionCount = 0

    typealias Change = @Sendable (Database) throws -> any Sendable

    struct Pending {
        var entry: AuditEntry
        var change: Change?
        var continuation: CheckedContinuation<(AuditRecord, any Sendable), any Error>
    }

    public init(
        store: Store, signingKey: Ed25519SigningKey, checkpointEveryRows: Int = 1000, checkpointInterval: Duration = .seconds(60),
        log: @escaping @Sendable (String) -> Void
    ) throws {
        self.store = store
        self.signingKey = signingKey
        self.checkpointEveryRows = checkpointEveryRows
        self.checkpointInterval = checkpointInterval
        self.log = log
        (head, lastCheckpoint) = try store.database.read { db in
            let row = try Row.fetchOne(db, sql: "SELECT seq, row_hash FROM audit ORDER BY seq DESC LIMIT 1")
            let cp = try Row.fetchOne(db, sql: "SELECT id, audit_seq FROM audit_checkpoint ORDER BY id DESC LIMIT 1")
            return (
                (row?["seq"] ?? 0, row.map { Array($0["row_hash"] as Data) } ?? AuditEncoding.zeroHash),
                (cp?["id"] ?? 0, cp?["audit_seq"] ?? 0)
            )
        }
        Task { await self.startTimer() }
    }

    private func startTimer() {
        guard timer == nil, !closed else { return }
        let interval = checkpointInterval
        timer = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard !Task.isCancelled, let self else { return }
                try? await self.checkpoint()
            }
        }
    }

    /// Appends a row; returns once it is committed and synced.
    @discardableResult
    public func append(_ entry: AuditEntry) async throws -> AuditRecord {
        try await enqueue(entry, change: nil).0
    }

    /// Runs `change` and appends its row in one transaction.
    package func append<T: Sendable>(_ entry: AuditEntry, change: @escaping @Sendable (Database) throws -> T) async throws -> T {
        let (_, value) = try await enqueue(entry) { db in try change(db) }
        return value as! T
    }

    private func enqueue(_ entry: AuditEntry, change: Change?) async throws -> (AuditRecord, any Sendable) {
        guard !closed else { throw AuditError.closed }
        return try await withCheckedThrowingContinuation { c in
            pending.append(Pending(entry: entry, change: change, continuation: c))
            if !flushing {
                flushing = true
                Task { await self.flush() }
            }
        }
    }

    /// Writes batches until nothing is pending.
    private func flush() async {
        while !pending.isEmpty {
            let batch = pending
            pending.removeAll(keepingCapacity: true)
            await write(batch)
        }
        flushing = false
    }

    private enum Outcome: Sendable {
        case written(AuditRecord, any Sendable)
        case refused(any Error)
    }

    private func write(_ batch: [Pending]) async {
        let start = head
        let key = signingKey
        let every = checkpointEveryRows
        let checkpointState = lastCheckpoint
        let items = batch.map { ($0.entry, $0.change) }
        nonisolated(unsafe) let sendableItems = items
        do {
            let (outcomes, newHead, checkpoint) = try await store.database.write { db -> ([Outcome], (Int64, [UInt8]), Checkpoint?) in
                var seq = start.seq
                var hash = start.hash
                var scratch: [UInt8] = []
                scratch.reserveCapacity(512)
                var outcomes: [Outcome] = []
                outcomes.reserveCapacity(sendableItems.count)
                let insert = try db.cachedStatement(sql: Self.insertSQL)
                for (entry, change) in sendableItems {
                    let time = Timestamp.now()
                    let rowHash = AuditEncoding.rowHash(prevHash: hash, seq: seq + 1, time: time, entry: entry, scratch: &scratch)
                    let record = AuditRecord(seq: seq + 1, time: time, entry: entry, prevHash: hash, rowHash: rowHash)
                    var value: any Sendable = ()
                    do {
                        try db.inSavepoint {
                            if let change { value = try change(db) }
                            try insert.execute(arguments: Self.arguments(record))
                            return .commit
                        }
                        seq += 1
                        hash = rowHash
                        outcomes.append(.written(record, value))
                    } catch let e as DatabaseError where Self.isStorageFault(e) {
                        throw e  // the whole batch fails: disk full, I/O error, locked
                    } catch {
                        outcomes.append(.refused(error))
                    }
                }
                var checkpoint: Checkpoint?
                if seq - checkpointState.seq >= Int64(every) {
                    checkpoint = try Self.insertCheckpoint(db, id: checkpointState.id + 1, seq: seq, hash: hash, key: key)
                }
                return (outcomes, (seq, hash), checkpoint)
            }
            transactionCount += 1
            head = (newHead.0, newHead.1)
            if let checkpoint { noteCheckpoint(checkpoint) }
            for (p, outcome) in zip(batch, outcomes) {
                switch outcome {
                case .written(let record, let value): p.continuation.resume(returning: (record, value))
                case .refused(let error): p.continuation.resume(throwing: error)
                }
            }
        } catch {
            let reason = (error as? DatabaseError).map { "\($0.resultCode)" } ?? "\(type(of: error))"
            log("audit write failed (\(reason)); \(batch.count) request(s) refused, nothing released")
            for p in batch { p.continuation.resume(throwing: AuditError.unavailable(reason)) }
        }
    }

    /// Writes a checkpoint now if rows were added since the last one.
    public func checkpoint() async throws {
        guard head.seq > lastCheckpoint.seq else { return }
        let (id, seq, hash, key) = (lastCheckpoint.id + 1, head.seq, head.hash, signingKey)
        do {
            let cp = try await store.database.write { db in try Self.insertCheckpoint(db, id: id, seq: seq, hash: hash, key: key) }
            transactionCount += 1
            noteCheckpoint(cp)
        } catch {
            throw AuditError.unavailable("\(error)")
        }
    }

    /// Final checkpoint; later appends are refused.
    public func close() async {
        timer?.cancel()
        timer = nil
        while flushing { await Task.yield() }
        try? await checkpoint()
        closed = true
    }

    private func noteCheckpoint(_ cp: Checkpoint) {
        lastCheckpoint = (cp.id, cp.auditSeq)
        log("audit checkpoint id=\(cp.id) seq=\(cp.auditSeq) head=\(Hex.encode(cp.headHash)) time=\(cp.time) sig=\(Hex.encode(cp.signature))")
    }

    static func insertCheckpoint(_ db: Database, id: Int64, seq: Int64, hash: [UInt8], key: Ed25519SigningKey) throws -> Checkpoint {
        let time = Timestamp.now()
        let signature = key.sign(AuditEncoding.checkpointMessage(id: id, auditSeq: seq, headHash: hash, time: time))
        try db.execute(
            sql: "INSERT INTO audit_checkpoint(id, audit_seq, head_hash, time, public_key, signature) VALUES (?, ?, ?, ?, ?, ?)",
            arguments: [id, seq, Data(hash), time.description, Data(key.publicKey), Data(signature)])
        return Checkpoint(id: id, auditSeq: seq, headHash: hash, time: time, publicKey: key.publicKey, signature: signature)
    }

    static func isStorageFault(_ e: DatabaseError) -> Bool {
        switch e.resultCode {
        case .SQLITE_FULL, .SQLITE_IOERR, .SQLITE_BUSY, .SQLITE_LOCKED, .SQLITE_READONLY, .SQLITE_CORRUPT, .SQLITE_CANTOPEN, .SQLITE_NOMEM:
            true
        default: false
        }
    }

    static let insertSQL = """
        INSERT INTO audit(seq, time, actor_role, actor_uid, actor_gid, actor_pid, session_id, action, target_connection,
            target_project, target_kind, target_version, outcome, reason, request_id, prev_hash, row_hash)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """

    static func arguments(_ r: AuditRecord) -> StatementArguments {
        let e = r.entry
        return [
            r.seq, r.time.description, e.actor.role, e.actor.uid.map { Int64($0) }, e.actor.gid.map { Int64($0) }, e.actor.pid.map { Int64($0) },
            e.actor.sessionID, e.action, e.target.connection, e.target.project, e.target.kind, e.target.version, e.outcome.rawValue,
            e.reason, e.requestID, Data(r.prevHash), Data(r.rowHash),
        ]
    }
}
