/// Why a request to an SCM server did not do what was asked. The message names the
/// connection, the request and what to do; it never holds a token, a header or a body
/// beyond the server's own message (at most 200 characters, a token in it redacted).
package struct SCMError: Error, Sendable, CustomStringConvertible {
    /// Stable codes (API answers, audit rows, `deploy-key list`).
    package enum Code: String, Sendable, CaseIterable {
        /// 401: the server does not accept the token (wrong, expired or revoked).
        case unauthorized = "scm_unauthorized"
        /// 403: the token lacks a scope or the user a permission.
        case forbidden = "scm_forbidden"
        /// 404: no such repository, key or hook (or the token may not see it).
        case notFound = "scm_not_found"
        /// The deploy key is already installed somewhere on the server.
        case keyInUse = "scm_key_in_use"
        /// 429 (or a spent rate limit) and the wait is longer than allowed.
        case rateLimited = "scm_rate_limited"
        /// 5xx after the retries.
        case serverError = "scm_server_error"
        /// Another 4xx: the server refused the request as sent.
        case rejected = "scm_rejected"
        /// No answer within the request timeout.
        case timeout = "scm_timeout"
        /// No connection (refused, reset, DNS, proxy).
        case unreachable = "scm_unreachable"
        /// The TLS handshake failed: unknown CA, wrong host name, bad certificate.
        case tls = "scm_tls_failed"
        /// The answer is not what the server's documentation describes.
        case badResponse = "scm_bad_response"
        /// The connection's settings cannot work (not https, unreadable CA file).
        case configuration = "scm_configuration"
        /// A key type the server does not accept (DSA everywhere).
        case unsupportedKey = "scm_unsupported_key"
    }

    package var code: Code
    package var message: String
    /// The server's HTTP status, when it answered.
    package var status: Int?

    package init(_ code: Code, _ message: String, status: Int? = nil) {
        self.code = code
        self.message = message
        self.status = status
    }

    package var description: String { message }

    /// Whether the failure is the server's or the network's (worth retrying later), as
    /// opposed to a refusal that will not change by itself.
    package var isTransient: Bool {
        switch code {
        case .rateLimited, .serverError, .timeout, .unreachable: true
        default: false
        }
    }
}
