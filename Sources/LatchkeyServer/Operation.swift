import LatchkeyAudit
import LatchkeyStore
import GRDB

typealias AuditTarget = AuditEntry.Target

/// The roles the policy names.
enum Role: String, Sendable {
    case admin, runner, build, auditor
}

/// One authorised request on its way to its audit row. Every route ends through
/// exactly one of `change`, `read`, `record` or `refuse`, so every request handled
/// leaves one row — granted, denied or failed — and the row of a change is written in
/// the change's own transaction.
struct Operation: Sendable {
    let vault: Vault
    let request: Request
    let actor: AuditEntry.Actor
    let action: String
    var target: AuditTarget

    func entry(_ outcome: AuditEntry.Outcome, reason: String? = nil) -> AuditEntry {
        AuditEntry(actor: actor, action: action, target: target, outcome: outcome, reason: reason, requestID: request.requestID)
    }

    /// Runs a store change and its granted row in one transaction. A refusal from the
    /// store (not found, conflict, bad input) writes a failed row and answers the client.
    func change<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await vault.audit.append(entry(.granted), change: body)
        } catch {
            throw try await fail(error)
        }
    }

    /// A read: runs it, then makes its row durable before the answer leaves.
    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
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
    func record(_ outcome: AuditEntry.Outcome, reason: String? = nil) async throws {
        do {
            _ = try await vault.audit.append(entry(outcome, reason: reason))
        } catch let e as AuditError {
            throw APIError.auditUnavailable(e)
        }
    }

    /// Records a refusal (denied for policy, failed for bad input) and returns it to throw.
    /// Past its uid's refusal rows for this second (`RefusalLimiter`), a refusal is
    /// counted into the second's summary row instead of writing one of its own.
    func refuse(_ error: APIError) async throws -> APIError {
        let row = entry(error.status == 403 || error.status == 401 ? .denied : .failed, reason: error.code)
        let (own, summaries) = vault.refusals.admit(row)
        if !summaries.isEmpty {
            let audit = vault.audit
            Task { for s in summaries { _ = try? await audit.append(s) } }
        }
        guard own else { return error }
        do {
            _ = try await vault.audit.append(row)
        } catch let e as AuditError {
            throw APIError.auditUnavailable(e)
        }
        return error
    }

    private func fail(_ error: any Error) async throws -> any Error {
        if let e = error as? AuditError { return APIError.auditUnavailable(e) }
        guard let refusal = APIError.from(error) else {
            vault.logger.error("internal fault", metadata: ["action": "\(action)", "request": "\(request.requestID)", "error": "\(error)"])
            try? await record(.failed, reason: "internal")
            return APIError.internalFault
        }
        return try await refuse(refusal)
    }
}

extension APIError {
    static func auditUnavailable(_ e: AuditError) -> APIError {
        APIError(status: 503, code: "audit_unavailable", "the audit log cannot be written (\(e.code)); nothing was changed or released")
    }
}
