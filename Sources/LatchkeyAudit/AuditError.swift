/// Failures of the audit layer.
package enum AuditError: Error, Sendable, CustomStringConvertible {
    /// The log could not be written (disk full, I/O error, locked): nothing is released.
    case unavailable(String)
    /// The log is closed (the daemon is stopping).
    case closed
    /// An export file or line is malformed.
    case malformedExport(line: Int, reason: String)
    /// At start-up the stored log did not verify: the daemon refuses to serve (and signs
    /// nothing) until the store is restored or the finding explained.
    case startupRefused(String)
    /// The checkpoint witness cannot be read or is damaged.
    case witness(String)

    package var code: String {
        switch self {
        case .unavailable: "audit_unavailable"
        case .closed: "audit_closed"
        case .malformedExport: "audit_export_malformed"
        case .startupRefused: "audit_log_tampered"
        case .witness: "audit_witness_unusable"
        }
    }

    package var description: String {
        switch self {
        case .unavailable(let r): "the audit log cannot be written: \(r)"
        case .closed: "the audit log is closed"
        case .malformedExport(let line, let reason): "export line \(line): \(reason)"
        case .startupRefused(let report):
            "the audit log in the store does not verify, so the daemon will not serve or sign anything over it:\n\(report)\nRestore the store from a backup (and keep this one for investigation); `latchkey audit verify --data-dir` shows the same report"
        case .witness(let r): r
        }
    }
}
