import LatchkeyAudit
import LatchkeySCM
import Logging

/// Writes the `scm.request` audit row of every outbound request attempt (and counts it in
/// `latchkey_scm_requests_total` by server kind and status): the connection, and in the
/// row's note the method, path, status (or failure code) and duration. Never a header, a
/// query or a body. An attempt whose row cannot be written
/// is logged (the request itself already happened).
struct SCMAuditObserver: SCMRequestObserver {
    let audit: AuditLog
    let logger: Logger
    let metrics: Metrics
    /// The server kind, the metric's label (never the connection's URL).
    let kind: String
    /// The project the requests are for, when there is one.
    let project: String?
    let requestID: String?

    func requestFinished(_ record: SCMRequestRecord) async {
        metrics.scmRequest(kind: kind, status: record.status ?? 0)
        let ok = record.status.map { (200..<300).contains($0) } ?? false
        let entry = AuditEntry(
            actor: .init(role: "daemon"), action: .scmRequest, target: .init(connection: record.connection, project: project),
            outcome: ok ? .granted : .failed, reason: record.note, requestID: requestID)
        do {
            _ = try await audit.append(entry)
        } catch {
            logger.error("could not audit an SCM request", metadata: ["connection": "\(record.connection)", "request": "\(record.method) \(record.path)"])
        }
        logger.info("scm.request \(record.note)", metadata: ["connection": "\(record.connection)"])
    }
}
