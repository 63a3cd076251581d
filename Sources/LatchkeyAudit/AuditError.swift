/// Failures of the audit layer.
public enum AuditError: Error, Sendable, CustomStringConvertible {
    /// The log could not be written (disk full, I/O error, locked): nothing is released.
    case unavailable(String)
    /// The log is closed (the daemon is stopping).
    case closed
    /// An export file or line is malformed.
    case malformedExport(line: Int, reason: String)

    public var code: String {
        switch self {
        case .unavailable: "audit_unavailable"
        case .closed: "audit_closed"
        case .malformedExport: "audit_export_malformed"
        }
    }

    public var description: String {
        switch self {
        case .unavailable(let r): "the audit log cannot be written: \(r)"
        case .closed: "the audit log is closed"
        case .malformedExport(let line, let reason): "export line \(line): \(reason)"
        }
    }
}
