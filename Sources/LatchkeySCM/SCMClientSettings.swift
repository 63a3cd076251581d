/// How patient the client is. Every field has the default; all are settable.
package struct SCMClientSettings: Sendable {
    /// TCP connect (and TLS handshake) limit.
    package var connectTimeout: Duration = .seconds(5)
    /// Limit for one whole request: connect, send, the answer's head and body.
    package var requestTimeout: Duration = .seconds(30)
    /// Attempts per request, the first included.
    package var maxAttempts: Int = 4
    /// Backoff before retry n (n ≥ 1) is a random duration in [0, min(cap, base·2ⁿ⁻¹)]
    /// ("full jitter"), unless the server said how long to wait.
    package var backoffBase: Duration = .milliseconds(250)
    package var backoffCap: Duration = .seconds(8)
    /// The longest wait a server's `Retry-After` or rate-limit reset may ask for; a
    /// longer one fails the request at once with a rate-limit error saying when.
    package var maxServerWait: Duration = .seconds(60)
    /// Requests in flight at once on one connection; more wait their turn.
    package var maxInFlight: Int = 4
    /// The largest answer body read; a longer one is a bad answer.
    package var maxResponseBytes: Int = 4 << 20
    /// `HTTPS_PROXY` / `NO_PROXY` as read from the environment.
    package var proxy: SCMProxySettings = .fromEnvironment()

    package init() {}
}
