/// What one attempt of one request did, for the `scm.request` audit row. Never a
/// header, a query value or a body.
package struct SCMRequestRecord: Sendable, Equatable {
    package var connection: String
    package var method: String
    /// Relative to the API root, without the query.
    package var path: String
    /// The server's status, or nil when it did not answer.
    package var status: Int?
    package var duration: Duration
    /// 1 for the first attempt.
    package var attempt: Int
    /// Why the attempt failed without an answer (timeout, TLS, …).
    package var failure: SCMError.Code?

    package init(connection: String, method: String, path: String, status: Int?, duration: Duration, attempt: Int, failure: SCMError.Code?) {
        self.connection = connection
        self.method = method
        self.path = path
        self.status = status
        self.duration = duration
        self.attempt = attempt
        self.failure = failure
    }

    /// `POST /repos/acme/web/keys → 201 in 12 ms` (or `→ scm_timeout`), the audit row's note.
    package var note: String {
        let ms = Int((duration / .milliseconds(1)).rounded())
        let outcome = status.map(String.init) ?? failure?.rawValue ?? "no answer"
        return "\(method) \(path) → \(outcome) in \(ms) ms" + (attempt > 1 ? " (attempt \(attempt))" : "")
    }
}

/// Told about every attempt, after it ends. The daemon writes the audit row from it.
package protocol SCMRequestObserver: Sendable {
    func requestFinished(_ record: SCMRequestRecord) async
}
