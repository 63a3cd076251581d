/// Told by the audit writer thread about each transaction, for metrics. Called on the
/// writer thread after the commit (or the failure) and before any caller is answered:
/// it must be quick and must not append to the log.
package protocol AuditObserver: Sendable {
    /// `rows` rows became durable in one transaction that took `duration` to write and sync.
    func committed(rows: Int, in duration: Duration)
    /// A transaction of `rows` rows failed; every caller in it was refused.
    func failed(rows: Int)
}
