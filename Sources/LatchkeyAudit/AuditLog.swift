package import LatchkeyCrypto
package import LatchkeyStore
import Foundation

/// The single writer of the store, with group commit (on PostgreSQL, this daemon's one
/// writer of the chain the fleet shares: see `shared`).
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
package final class AuditLog: @unchecked Sendable {
    // `@unchecked Sendable`: the queue below is touched only under `condition`; the chain
    // state (`head`, `lastCheckpoint`) only by the writer thread, or by `init` before it starts.
    private let store: Store
    private let signingKey: Ed25519SigningKey
    private let checkpointEveryRows: Int
    private let checkpointInterval: Duration
    private let log: @Sendable (String) -> Void
    private let observer: (any AuditObserver)?
    package static let maxBatch = 1024

    private let condition = NSCondition()
    private var pending: [Pending] = []
    private var checkpointWaiters: [CheckedContinuation<Void, any Error>] = []
    private var closeWaiters: [CheckedContinuation<Void, Never>] = []
    private var closing = false
    private var closed = false
    private var transactions = 0

    /// Whether other daemons append to the same chain (a store on PostgreSQL): then every
    /// batch and checkpoint holds `chainLockKey` and starts from the head and checkpoint
    /// it reads in its own transaction, not from what this writer last wrote.
    private let shared: Bool
    /// The host named on every row this writer appends (a fleet's daemon: its `--host-name`);
    /// nil on a single host's store, whose rows name none.
    private let host: String?
    /// The lock every daemon's audit writer holds while it extends the shared chain.
    /// ("LKchain" in ASCII.)
    package static let chainLockKey: Int64 = 0x4c4b_6368_6169_6e00

    private var head: ChainHead
    /// The newest checkpoint: its id, the row it covers and its hash (what the next names).
    private var lastCheckpoint: CheckpointState
    private let witness: CheckpointWitness?

    typealias Change = @Sendable (StoreDB) throws -> any Sendable

    typealias Completion = @Sendable (Result<(AuditRecord, any Sendable), any Error>) -> Void

    struct Pending {
        var entry: AuditEntry
        var change: Change?
        /// Called on the writer thread once the row is durable or refused.
        var done: Completion
    }

    /// Opens the log for writing. The caller has verified it (`verifyAtStartup`): a log
    /// that is empty gets its first checkpoint (over nothing), and an unsigned tail left by
    /// a previous run that did not stop cleanly is signed now, before any new row, so
    /// every tail holds the rows of one run only.
    package convenience init(
        store: Store, signingKey: Ed25519SigningKey, checkpointEveryRows: Int = 1000, checkpointInterval: Duration = .seconds(60),
        witness: CheckpointWitness? = nil, host: String? = nil, log: @escaping @Sendable (String) -> Void
    ) throws {
        try self.init(
            store: store, signingKey: signingKey, checkpointEveryRows: checkpointEveryRows, checkpointInterval: checkpointInterval,
            witness: witness, observer: nil, host: host, log: log)
    }

    package init(
        store: Store, signingKey: Ed25519SigningKey, checkpointEveryRows: Int = 1000, checkpointInterval: Duration = .seconds(60),
        witness: CheckpointWitness? = nil, observer: (any AuditObserver)?, host: String? = nil, log: @escaping @Sendable (String) -> Void
    ) throws {
        self.host = host
        self.observer = observer
        self.store = store
        self.signingKey = signingKey
        self.checkpointEveryRows = checkpointEveryRows
        self.checkpointInterval = checkpointInterval
        self.witness = witness
        self.log = log
        shared = store.engine != .sqlite
        (head, lastCheckpoint) = try store.database.read { db in try Self.chainState(db) }
        if lastCheckpoint.id == 0 || head.seq > lastCheckpoint.seq { try writeCheckpoint(force: true) }
        let thread = Thread { [self] in run() }
        thread.name = "latchkey-audit-writer"
        thread.start()
    }

    /// Transactions committed so far (each holds one or more rows).
    package var transactionCount: Int { condition.withLock { transactions } }

    /// Appends a row; returns once it is committed and synced.
    @discardableResult
    package func append(_ entry: AuditEntry) async throws -> AuditRecord {
        try await enqueue(entry, change: nil).0
    }

    /// Runs `change` and appends its row in one transaction. `settled`, if given, is
    /// called on the writer thread as soon as the transaction's fate is known — true once
    /// it committed, false if the change or the transaction failed — and before the writer
    /// starts its next transaction (key changes take effect there: `KeyRing.settle`).
    package func append<T: Sendable>(
        _ entry: AuditEntry, change: @escaping @Sendable (StoreDB) throws -> T, settled: (@Sendable (Bool) -> Void)? = nil
    ) async throws -> T {
        let (_, value) = try await withCheckedThrowingContinuation { (c: CheckedContinuation<(AuditRecord, any Sendable), any Error>) in
            enqueue(entry, change: { db in try change(db) }) { result in
                if case .success = result { settled?(true) } else { settled?(false) }
                c.resume(with: result)
            }
        }
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
        var entry = entry
        if let host { entry.host = host }
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
    package func checkpoint() async throws {
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
    package func close() async {
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
            // Under steady load the writer may never wait long enough to time out: the
            // interval is kept all the same (verification holds an unsigned tail to it).
            if Date() >= nextTimedCheckpoint { timedOut = true }
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
        let known = (head, lastCheckpoint)
        let key = signingKey
        let every = checkpointEveryRows
        let shared = shared
        let groupsRows = store.engine != .sqlite
        let started = ContinuousClock.now
        do {
            nonisolated(unsafe) var outcomes: [Outcome] = []
            outcomes.reserveCapacity(batch.count)
            let (start, newHead, checkpointState, checkpoint) = try store.database.write(holdingLock: Self.chainLockKey) {
                db -> (ChainHead, ChainHead, CheckpointState, Checkpoint?) in
                outcomes.removeAll(keepingCapacity: true)  // a retried transaction starts over
                let (start, checkpointState) = shared ? try Self.chainState(db) : known
                var seq = start.seq
                var hash = start.hash
                let scratch = AuditRowBuffer()
                // PostgreSQL: the lone rows go in multi-row INSERTs, a round trip for many rows.
                // A statement that fails there aborts the transaction, so the whole batch
                // fails whatever the grouping (only a savepoint isolates a row).
                var queued: [AuditRecord] = []
                func insertQueued() throws {
                    guard !queued.isEmpty else { return }
                    var arguments: SQLArguments = []
                    for record in queued { arguments += Self.arguments(record) }
                    try db.execute(sql: Self.insertSQL(rows: queued.count), arguments: arguments)
                    queued.removeAll(keepingCapacity: true)
                }
                for p in batch {
                    if p.change != nil || queued.count == Self.rowsPerInsert { try insertQueued() }
                    let time = Timestamp.now()
                    var value: any Sendable = ()
                    do {
                        let rowHash = try AuditEncoding.rowHash(prevHash: hash, seq: seq + 1, time: time, entry: p.entry, scratch: scratch)
                        let record = AuditRecord(seq: seq + 1, time: time, entry: p.entry, prevHash: hash, rowHash: rowHash)
                        if let change = p.change {
                            try db.inSavepoint {
                                value = try change(db)
                                try db.execute(sql: Self.insertSQL, arguments: Self.arguments(record))
                                return .commit
                            }
                        } else if groupsRows {
                            queued.append(record)
                        } else {
                            // A lone row needs no savepoint: a failed INSERT undoes only itself.
                            try db.execute(sql: Self.insertSQL, arguments: Self.arguments(record))
                        }
                        seq += 1
                        hash = record.rowHash
                        outcomes.append(.written(record, value))
                    } catch let e as SQLError where Self.isStorageFault(e) {
                        throw e  // the whole batch fails: disk full, I/O error, locked
                    } catch {
                        outcomes.append(.refused(error))
                    }
                }
                try insertQueued()
                var checkpoint: Checkpoint?
                if seq - checkpointState.seq >= Int64(every) {
                    checkpoint = try Self.insertCheckpoint(
                        db, id: checkpointState.id + 1, seq: seq, hash: hash, prev: checkpointState.hash, key: key)
                }
                return (start, (seq, hash), checkpointState, checkpoint)
            }
            condition.withLock { transactions += 1 }
            observer?.committed(rows: Int(newHead.seq - start.seq), in: ContinuousClock.now - started)
            head = newHead
            lastCheckpoint = checkpointState
            if let checkpoint { noteCheckpoint(checkpoint) }
            for (p, outcome) in zip(batch, outcomes) {
                switch outcome {
                case .written(let record, let value): p.done(.success((record, value)))
                case .refused(let error): p.done(.failure(error))
                }
            }
        } catch {
            let reason = (error as? SQLError).map(\.code) ?? "\(type(of: error))"
            log("audit write failed (\(reason)); \(batch.count) request(s) refused, nothing released")
            observer?.failed(rows: batch.count)
            for p in batch { p.done(.failure(AuditError.unavailable(reason))) }
        }
    }

    /// A checkpoint over the head, if rows were added since the last one (or, forced, in
    /// any case: the first one over an empty log).
    ///
    /// On a shared chain the head and the newest checkpoint are read again under the chain
    /// lock: the checkpoint covers the fleet's head, and none is written when another
    /// daemon's checkpoint already covers it.
    private func writeCheckpoint(force: Bool = false) throws {
        guard shared || force || head.seq > lastCheckpoint.seq else { return }
        let known = (head, lastCheckpoint)
        let (shared, key) = (shared, signingKey)
        do {
            let (state, cp) = try store.database.write(holdingLock: Self.chainLockKey) { db -> ((ChainHead, CheckpointState), Checkpoint?) in
                let (head, last) = shared ? try Self.chainState(db) : known
                let due = shared ? last.id == 0 || head.seq > last.seq : force || head.seq > last.seq
                guard due else { return ((head, last), nil) }
                return ((head, last), try Self.insertCheckpoint(db, id: last.id + 1, seq: head.seq, hash: head.hash, prev: last.hash, key: key))
            }
            (head, lastCheckpoint) = state
            guard let cp else { return }
            condition.withLock { transactions += 1 }
            noteCheckpoint(cp)
        } catch {
            throw AuditError.unavailable("\(error)")
        }
    }

    typealias ChainHead = (seq: Int64, hash: [UInt8])
    typealias CheckpointState = (id: Int64, seq: Int64, hash: [UInt8])

    /// The chain's head (its newest row) and its newest checkpoint, as stored.
    static func chainState(_ db: StoreDB) throws -> (ChainHead, CheckpointState) {
        // Both in one statement, read with fetchAll: one round trip on PostgreSQL (fetchOne
        // streams through a cursor).
        let row = try SQLRow.fetchAll(db, sql: """
            SELECT h.seq AS head_seq, h.row_hash AS head_row_hash, c.* FROM (SELECT 1 AS one) o
                LEFT JOIN (SELECT seq, row_hash FROM audit ORDER BY seq DESC LIMIT 1) h ON 1 = 1
                LEFT JOIN (SELECT * FROM audit_checkpoint ORDER BY id DESC LIMIT 1) c ON 1 = 1
            """).first
        let cp = try row.flatMap { r in (r["id"] as Int64?) == nil ? nil : try AuditReader.checkpoint(r) }
        return (
            (row?["head_seq"] ?? 0, (row?["head_row_hash"] as Data?).map { Array($0) } ?? AuditEncoding.zeroHash),
            (cp?.id ?? 0, cp?.auditSeq ?? 0, cp.map(AuditEncoding.checkpointHash) ?? AuditEncoding.zeroHash)
        )
    }

    /// Logs a committed checkpoint in its parseable form and hands it to the witness.
    private func noteCheckpoint(_ cp: Checkpoint) {
        lastCheckpoint = (cp.id, cp.auditSeq, AuditEncoding.checkpointHash(cp))
        let line = CheckpointLine.format(cp)
        log(line)
        if let witness, let failure = witness.record(line) { log("audit checkpoint witness failed: \(failure)") }
    }

    /// Signs and stores checkpoint `id` over row `seq` (hash `hash`), chained to the
    /// previous checkpoint's hash `prev` (zero for the first).
    static func insertCheckpoint(_ db: StoreDB, id: Int64, seq: Int64, hash: [UInt8], prev: [UInt8], key: Ed25519SigningKey) throws -> Checkpoint {
        var cp = Checkpoint(id: id, auditSeq: seq, headHash: hash, time: .now(), publicKey: key.publicKey, signature: [], prevHash: prev)
        cp.signature = key.sign(AuditEncoding.checkpointMessage(cp))
        try db.execute(
            sql: "INSERT INTO audit_checkpoint(id, audit_seq, head_hash, time, public_key, signature, prev_hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
            arguments: [id, seq, Data(hash), cp.time.description, Data(key.publicKey), Data(cp.signature), Data(prev)])
        return cp
    }

    // MARK: Start-up

    /// Signs the first checkpoint of a new store (over the empty log), so that a store
    /// with no checkpoint at all is never one `latchkey init` made.
    package static func signFirstCheckpoint(store: Store, signingKey: Ed25519SigningKey) throws {
        try store.database.write { db in
            guard try Int.fetchOne(db, sql: "SELECT count(*) FROM audit_checkpoint") == 0,
                try Int.fetchOne(db, sql: "SELECT count(*) FROM audit") == 0
            else { return }
            _ = try insertCheckpoint(db, id: 1, seq: 0, hash: AuditEncoding.zeroHash, prev: AuditEncoding.zeroHash, key: signingKey)
        }
    }

    /// Verifies the stored log before the daemon serves: every row and checkpoint (as
    /// `audit verify` does, with the policy this log is written under), and the newest
    /// checkpoint of the witness file, if there is one. Throws `startupRefused` with the
    /// report when anything is wrong; reads only.
    package static func verifyAtStartup(
        store: Store, publicKey: [UInt8], policy: CheckpointPolicy = .standard, witness: CheckpointWitness? = nil
    ) throws {
        var expected: [ExpectedCheckpoint] = []
        if let newest = try witness?.newest(publicKey: publicKey) { expected.append(newest) }
        // SQLite: the file, on read-only connections of its own (ranges on several threads);
        // another engine: the store's own snapshot.
        let report =
            store.engine == .sqlite
            ? try AuditReader.verify(databasePath: store.path, publicKey: publicKey, policy: policy, expected: expected)
            : try AuditReader.verify(store: store, publicKey: publicKey, policy: policy, expected: expected)
        // An empty log with no checkpoint is a store that never served: it gets its first one.
        if report.problem == .noCheckpoint && report.lastSeq == 0 && report.rowsChecked == 0 { return }
        guard report.isIntact else { throw AuditError.startupRefused(report.description) }
    }

    /// Disk full, I/O error, busy or locked, read-only, corrupt, cannot open, out of memory
    /// (SQLite), connection lost or serialization failure (PostgreSQL): the whole batch fails.
    static func isStorageFault(_ e: SQLError) -> Bool {
        e.isStorageFault
    }

    static let insertSQL = insertSQL(rows: 1)
    /// The most rows one multi-row INSERT carries (19 parameters each, well under
    /// PostgreSQL's 65,535).
    package static let rowsPerInsert = 256

    static func insertSQL(rows: Int) -> String {
        let values = Array(repeating: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", count: rows).joined(separator: ", ")
        return """
            INSERT INTO audit(seq, time, actor_role, actor_uid, actor_gid, actor_pid, session_id, action, target_connection,
                target_project, target_kind, target_version, outcome, reason, request_id, prev_hash, row_hash, client_request_id, host)
            VALUES \(values)
            """
    }

    /// The row's values in `insertSQL`'s column order, built as values (every row of the
    /// log passes here: no existential boxes).
    static func arguments(_ r: AuditRecord) -> SQLArguments {
        let e = r.entry
        func text(_ s: String?) -> SQLValue { s.map(SQLValue.text) ?? .null }
        func integer<I: BinaryInteger>(_ i: I?) -> SQLValue { i.map { .integer(Int64($0)) } ?? .null }
        return SQLArguments([
            .integer(r.seq), .text(r.time.description), .text(e.actor.role), integer(e.actor.uid), integer(e.actor.gid), integer(e.actor.pid),
            text(e.actor.sessionID), .text(e.action), text(e.target.connection), text(e.target.project), text(e.target.kind),
            integer(e.target.version), .text(e.outcome.rawValue), text(e.reason), text(e.requestID), .blob(Data(r.prevHash)),
            .blob(Data(r.rowHash)), text(e.clientRequestID), text(e.host),
        ])
    }
}
