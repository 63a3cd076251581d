package import LatchkeyAudit
package import LatchkeyStore
import Synchronization

package typealias AuditTarget = AuditEntry.Target

/// One authorised request on its way to its audit row. The router makes it (with the
/// endpoint's action and the peer's role) and hands it to the handler; the handler fills
/// in the target and ends through `change`, `read`, `record` or `refuse`. If the handler
/// returns or throws without having done so, the router writes the row itself — granted,
/// the refusal's code, or `failed internal` — so every request leaves exactly one row, and
/// the row of a change is written in the change's own transaction.
package struct Operation: Sendable {
    let vault: Vault
    package let request: Request
    package var actor: AuditEntry.Actor
    package let action: AuditAction
    package var target: AuditTarget
    /// Shared by the copies of this operation: whether its row was written (or tried).
    private let row = RowMark()

    init(vault: Vault, request: Request, actor: AuditEntry.Actor, action: AuditAction, target: AuditTarget) {
        self.vault = vault
        self.request = request
        self.actor = actor
        self.action = action
        self.target = target
    }

    /// Whether this request's row was written or attempted.
    var hasRecorded: Bool { row.isSet }

    func entry(_ outcome: AuditEntry.Outcome, reason: String? = nil) -> AuditEntry {
        AuditEntry(
            actor: actor, action: action, target: target, outcome: outcome, reason: reason, requestID: request.requestID,
            clientRequestID: request.clientRequestID)
    }

    /// Runs a store change and its granted row in one transaction. A refusal from the
    /// store (not found, conflict, bad input) writes a failed row and answers the client.
    /// `settled` runs on the audit writer once the transaction committed (true) or failed
    /// (key changes take effect there: `KeyRing.settle`).
    func change<T: Sendable>(
        _ body: @escaping @Sendable (StoreDB) throws -> T, settled: (@Sendable (Bool) -> Void)? = nil
    ) async throws -> T {
        row.set()
        do {
            return try await vault.audit.append(entry(.granted), change: body, settled: settled)
        } catch {
            throw try await fail(error)
        }
    }

    /// A read: runs it, then makes its row durable before the answer leaves.
    func read<T: Sendable>(_ body: @escaping @Sendable (StoreDB) throws -> T) async throws -> T {
        let value: T
        do {
            value = try await vault.store.database.read(body)
        } catch {
            throw try await fail(error)
        }
        try await record(.granted)
        return value
    }

    /// Writes this request's row (durable on return).
    func record(_ outcome: AuditEntry.Outcome, reason: RefusalCode? = nil) async throws {
        row.set()
        do {
            _ = try await vault.audit.append(entry(outcome, reason: reason?.rawValue))
        } catch let e as AuditError {
            throw APIError.auditUnavailable(e)
        }
    }

    /// Writes this request's row with a free-text reason (a minted token's server id):
    /// durable on return. The note must hold nothing secret.
    func record(_ outcome: AuditEntry.Outcome, note: String) async throws {
        row.set()
        do {
            _ = try await vault.audit.append(entry(outcome, reason: note))
        } catch let e as AuditError {
            throw APIError.auditUnavailable(e)
        }
    }

    /// Records a refusal (denied for policy, failed for bad input) and returns it to throw.
    /// Past its uid's refusal rows for this second (`RefusalLimiter`), a refusal is
    /// counted into the second's summary row instead of writing one of its own.
    func refuse(_ error: APIError) async throws -> APIError {
        vault.metrics.refused(code: error.code.rawValue)
        let row = entry(error.code.outcome, reason: error.code.rawValue)
        let (own, summaries) = vault.refusals.admit(row)
        if !summaries.isEmpty {
            let audit = vault.audit
            Task { for s in summaries { _ = try? await audit.append(s) } }
        }
        guard own else {
            self.row.set()  // counted into a summary row: this request's row is that one
            return error
        }
        try await record(error.code.outcome, reason: error.code)
        return error
    }

    /// Ends an operation whose handler threw: a refusal is recorded as such, anything
    /// else as `failed internal` (logged, answered 500 with no detail).
    func fail(_ error: any Error) async throws -> any Error {
        if let e = error as? AuditError { return APIError.auditUnavailable(e) }
        if let e = error as? APIError, e.code == .auditUnavailable { return e }
        if let e = error as? StoreError, case .bindingFailed = e {
            // A row a store writer changed: named in the log (the audit row has the code).
            vault.logger.error("\(e)", metadata: ["action": "\(action.rawValue)", "request": "\(request.requestID)"])
        }
        guard let refusal = APIError.from(error) else {
            vault.logger.error("internal fault", metadata: ["action": "\(action.rawValue)", "request": "\(request.requestID)", "error": "\(error)"])
            try? await record(.failed, reason: .internalFault)
            return APIError.internalFault
        }
        return try await refuse(refusal)
    }
}

/// Set once when an operation's row is written or tried.
private final class RowMark: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .relaxed) }
    var isSet: Bool { value.load(ordering: .relaxed) }
}

extension APIError {
    static func auditUnavailable(_ e: AuditError) -> APIError {
        APIError(.auditUnavailable, "the audit log cannot be written (\(e.code)); nothing was changed or released")
    }
}
