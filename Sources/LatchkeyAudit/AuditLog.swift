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
///
/// The writer is one thread of its own that blocks in SQLite: callers only queue their
/// row under a lock and wait, so a batch costs no hop through an actor or GRDB's queue,
/// and a checkpoint is written every `checkpointEveryRows` rows, every
/// `checkpointInterval` in which rows were added, and at `close`.
public final class AuditLog: @unchecked Sendable {
    // `@unchecked Sendable`: the queue below is touched only under `condition`; the chain
    // state (`head`, `lastCheckpoint`) only by the writer thread, or by `init` before it starts.
    private let store: Store
    private let signingKey: Ed25519SigningKey
    private let checkpointEveryRows: Int
    private let checkpointInterval: Duration
    private let log: @Sendable (String) -> Void
    private let observer: (any AuditObserver)?
    public static let maxBatch = 1024

    private let condition = NSCondition()
    private var pending: [Pending] = []
    private var checkpointWaiters: [CheckedContinuation<Void, any Error>] = []
    private var closeWaiters: [CheckedContinuation<Void, Never>] = []
    private var closing = false
    private var closed = false
    private var transactions = 0

    private var head: (seq: Int64, hash: [UInt8])
    private var lastCheckpoint: (id: Int64, seq: Int64)

    typealias Change = @Sendable (Database) throws -> any Sendable

    typealias Completion = @Sendable (Result<(AuditRecord, any Sendable), any Error>) -> Void

    struct Pending {
        var entry: AuditEntry
        var change: Change?
        /// Called on the writer thread once the row is durable or refused.
        var done: Completion
    }

    public convenience init(
        store: Store, signingKey: Ed25519SigningKey, checkpointEveryRows: Int = 1000, checkpointInterval: Duration = .seconds(60),
        log: @escaping @Sendable (String) -> Void
    ) throws {
        try self.init(
            store: store, signingKey: signingKey, checkpointEveryRows: checkpointEveryRows, checkpointInterval: checkpointInterval,
            observer: nil, log: log)
    }

    package init(
        store: Store, signingKey: Ed25519SigningKey, checkpointEveryRows: Int = 1000, checkpointInterval: Duration = .seconds(60),
        observer: (any AuditObserver)?, log: @escaping @Sendable (String) -> Void
    ) throws {
        self.observer = observer
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
        let thread = Thread { [self] in run() }
        thread.name = "latchkey-audit-writer"
        thread.start()
    }

    /// Transactions committed so far (each holds one or more rows).
    public var transactionCount: Int { condition.withLock { transactions } }

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

    /// Appends a row and calls `done` on the writer thread once it is durable, or with
    /// the error (`AuditError`) if it is not: for callers that answer from an event loop
    /// and need no task to wait in.
    package func append(_ entry: AuditEntry, then done: @escaping @Sendable (Result<AuditRecord, any Error>) -> Void) {
        enqueue(entry, change: nil) { done($0.map(\.0)) }
    }

    private func enqueue(_ entry: AuditEntry, change: Change?) async throws -> (AuditRecord, any Sendable) {
        try await withCheckedThrowingContinuation { c in enqueue(entry, change: change) { c.resume(with: $0) } }
    }

    private func enqueue(_ entry: AuditEntry, change: Change?, done: @escaping Completion) {
        condition.lock()
        guard !closing else {
            condition.unlock()
            return done(.failure(AuditError.closed))
        }
        pending.append(Pending(entry: entry, change: change, done: done))
        if pending.count == 1 { condition.signal() }
        condition.unlock()
    }

    /// Writes a checkpoint now if rows were added since the last one.
    public func checkpoint() async throws {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            condition.lock()
            guard !closed else {
                condition.unlock()
                return c.resume()
            }
            checkpointWaiters.append(c)
            condition.signal()
            condition.unlock()
        }
    }

    /// Writes what is queued and a final checkpoint; later appends are refused.
    public func close() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            condition.lock()
            guard !closed else {
                condition.unlock()
                return c.resume()
            }
            closing = true
            closeWaiters.append(c)
            condition.signal()
            condition.unlock()
        }
    }

    // MARK: The writer thread

    private func run() {
        var nextTimedCheckpoint = Date().addingTimeInterval(Self.seconds(checkpointInterval))
        while true {
            condition.lock()
            var timedOut = false
            while pending.isEmpty && checkpointWaiters.isEmpty && !closing && !timedOut {
                timedOut = !condition.wait(until: nextTimedCheckpoint)
            }
            let batch = Array(pending.prefix(Self.maxBatch))
            pending.removeFirst(batch.count)
            let waiters = checkpointWaiters
            checkpointWaiters = []
            let finishing = closing && pending.isEmpty
            condition.unlock()

            if !batch.isEmpty { write(batch) }
            if timedOut || !waiters.isEmpty || finishing {
                var failure: (any Error)?
                do { try writeCheckpoint() } catch { failure = error }
                for w in waiters {
                    if let failure { w.resume(throwing: failure) } else { w.resume() }
                }
                if timedOut { nextTimedCheckpoint = Date().addingTimeInterval(Self.seconds(checkpointInterval)) }
            }
            if finishing {
                condition.lock()
                closed = true
                let closers = closeWaiters
                closeWaiters = []
                let late = pending
                pending = []
                condition.unlock()
                for p in late { p.done(.failure(AuditError.closed)) }
                for c in closers { c.resume() }
                return
            }
        }
    }

    private static func seconds(_ d: Duration) -> TimeInterval {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    private enum Outcome {
        case written(AuditRecord, any Sendable)
        case refused(any Error)
    }

    private func write(_ batch: [Pending]) {
        let start = head
        let key = signingKey
        let every = checkpointEveryRows
        let checkpointState = lastCheckpoint
        let started = ContinuousClock.now
        do {
            nonisolated(unsafe) var outcomes: [Outcome] = []
            outcomes.reserveCapacity(batch.count)
            let (newHead, checkpoint) = try store.database.write { db -> ((Int64, [UInt8]), Checkpoint?) in
                outcomes.removeAll(keepingCapacity: true)  // a retried transaction starts over
                var seq = start.seq
                var hash = start.hash
                var scratch: [UInt8] = []
                scratch.reserveCapacity(512)
                let insert = try db.cachedStatement(sql: Self.insertSQL)
                for p in batch {
                    let time = Timestamp.now()
                    let rowHash = AuditEncoding.rowHash(prevHash: hash, seq: seq + 1, time: time, entry: p.entry, scratch: &scratch)
                    let record = AuditRecord(seq: seq + 1, time: time, entry: p.entry, prevHash: hash, rowHash: rowHash)
                    var value: any Sendable = ()
                    do {
                        if let change = p.change {
                            try db.inSavepoint {
                                value = try change(db)
                                try insert.execute(arguments: Self.arguments(record))
                                return .commit
                            }
                        } else {
                            // A lone row needs no savepoint: a failed INSERT undoes only itself.
                            try insert.execute(arguments: Self.arguments(record))
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
                return ((seq, hash), checkpoint)
            }
            condition.withLock { transactions += 1 }
            observer?.committed(rows: Int(newHead.0 - start.seq), in: ContinuousClock.now - started)
            head = (newHead.0, newHead.1)
            if let checkpoint { noteCheckpoint(checkpoint) }
            for (p, outcome) in zip(batch, outcomes) {
                switch outcome {
                case .written(let record, let value): p.done(.success((record, value)))
                case .refused(let error): p.done(.failure(error))
                }
            }
        } catch {
            let reason = (error as? DatabaseError).map { "\($0.resultCode)" } ?? "\(type(of: error))"
            log("audit write failed (\(reason)); \(batch.count) request(s) refused, nothing released")
            observer?.failed(rows: batch.count)
            for p in batch { p.done(.failure(AuditError.unavailable(reason))) }
        }
    }

    /// A checkpoint over the head, if rows were added since the last one.
    private func writeCheckpoint() throws {
        guard head.seq > lastCheckpoint.seq else { return }
        let (id, seq, hash, key) = (lastCheckpoint.id + 1, head.seq, head.hash, signingKey)
        do {
            let cp = try store.database.write { db in try Self.insertCheckpoint(db, id: id, seq: seq, hash: hash, key: key) }
            condition.withLock { transactions += 1 }
            noteCheckpoint(cp)
        } catch {
            throw AuditError.unavailable("\(error)")
        }
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
