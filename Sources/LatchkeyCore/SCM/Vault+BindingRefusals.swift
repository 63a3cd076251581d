import LatchkeyAudit
import LatchkeyStore

extension Vault {
    /// Rows the daemon's own SCM work met whose bindings did not verify (a store writer
    /// changed them): each is logged, naming the row, and audited (`binding_failed`), and
    /// nothing is done with it. A refusal inside a request is the router's to report; this
    /// is for work with no request of its own to fail (housekeeping, reconciliation, the
    /// removals queued by a revocation).
    func reportBindingFailures(_ errors: [StoreError], action: AuditAction, target: AuditEntry.Target, requestID: String? = nil) async {
        for e in errors {
            logger.error("\(e)", metadata: ["action": "\(action.rawValue)"])
            _ = try? await audit.append(
                AuditEntry(
                    actor: .init(role: .daemon), action: action, target: target, outcome: .failed,
                    reason: RefusalCode.bindingFailed.rawValue, requestID: requestID))
        }
    }
}
