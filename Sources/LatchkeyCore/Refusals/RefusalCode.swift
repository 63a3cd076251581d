package import LatchkeyAudit

/// Every code an error answer or a refusal's audit row can carry, listed once with its
/// HTTP status, its audit outcome and a default message — the way OpenSSH's `ssherr.h`
/// lists its errors. A new refusal is a new case here (and in docs/openapi.yaml, whose
/// `ErrorCode` enum a test holds to this list). A refusal is the client's fault or a state
/// the client must know about; `internal` is the one code for a fault of the daemon's,
/// and it never carries detail.
package enum RefusalCode: String, CaseIterable, Sendable {
    // 400: the request is malformed or fails validation; the message names the field.
    case badRequest = "bad_request"
    case badHTTP = "bad_http"
    case invalid
    case sealOpenFailed = "seal_open_failed"
    /// A rekey's new key file is exposed, of another user, a symlink or the wrong size.
    case keyFileRefused = "key_file_refused"
    /// `token put`: the SCM server does not accept the new token (nothing was stored).
    case tokenRejected = "token_rejected"
    // 401: no usable session, or no peer credentials.
    case noPeerCredentials = "no_peer_credentials"
    case noSession = "no_session"
    case invalidSession = "invalid_session"
    case sessionExpired = "session_expired"
    case sessionUsedUp = "session_used_up"
    // 403: the policy or the session says no.
    case notAdmin = "not_admin"
    case notRunner = "not_runner"
    case notAuditor = "not_auditor"
    /// The peer is not a webhook receiver in the policy (for this project).
    case notWebhookReceiver = "not_webhook_receiver"
    /// A webhook delivery whose signature no active or grace version's secret makes.
    case badSignature = "bad_signature"
    case peerNotAllowed = "peer_not_allowed"
    case projectNotAllowed = "project_not_allowed"
    case grantNotAllowed = "grant_not_allowed"
    case grantMissing = "grant_missing"
    case ttlTooLong = "ttl_too_long"
    case tooManyUses = "too_many_uses"
    case secretRevoked = "secret_revoked"
    case tokenExpired = "token_expired"
    /// A session asked its minted repository token for more than its rule's `repo_token` allows.
    case permissionNotAllowed = "permission_not_allowed"
    /// A session agent was asked to sign with a key it does not hold (audit rows only).
    case unknownKey = "unknown_key"
    /// A session's agent serves only the uid that opened it.
    case agentNotYours = "agent_not_yours"
    /// The process that opened the connection has exited or changed its uid or gid.
    case peerChanged = "peer_changed"
    /// The runner uid holds as many live sessions as the daemon allows.
    case sessionLimit = "session_limit"
    /// A uid holds as many connections as the daemon allows (agent connections; audit rows only).
    case tooManyConnections = "too_many_connections"
    // 404, 405, 408
    case notFound = "not_found"
    case methodNotAllowed = "method_not_allowed"
    case requestTimeout = "request_timeout"
    // 409: the state does not allow it.
    case conflict
    case noDeployKey = "no_deploy_key"
    case noToken = "no_token"
    case liveSessions = "live_sessions"
    case noCertificateAuthority = "no_certificate_authority"
    case noCertificatePrincipals = "no_certificate_principals"
    case certificateSettingsInvalid = "certificate_settings_invalid"
    /// A `repo-token` session on a GitHub Enterprise connection with no active App key.
    case noGitHubApp = "no_github_app"
    /// The project has no webhook installed by Latchkey.
    case noWebhook = "no_webhook"
    /// The repository already has a webhook for this URL (or the project already has one).
    case webhookExists = "webhook_exists"
    /// The deploy key is already installed elsewhere on the SCM server.
    case scmKeyInUse = "scm_key_in_use"
    // 400 from an SCM connection's settings or a key the server will not take.
    case scmConfiguration = "scm_configuration"
    case scmUnsupportedKey = "scm_unsupported_key"
    // 502: the SCM server refused or failed (its words are in the message).
    case scmUnauthorized = "scm_unauthorized"
    case scmForbidden = "scm_forbidden"
    case scmNotFound = "scm_not_found"
    case scmRateLimited = "scm_rate_limited"
    case scmServerError = "scm_server_error"
    case scmRejected = "scm_rejected"
    case scmTimeout = "scm_timeout"
    case scmUnreachable = "scm_unreachable"
    case scmTLSFailed = "scm_tls_failed"
    case scmBadResponse = "scm_bad_response"
    // 413, 431: over a size limit.
    case bodyTooLarge = "body_too_large"
    case headersTooLarge = "headers_too_large"
    // 500: the daemon's own fault (logged, never detailed to the client).
    case internalFault = "internal"
    case agentUnavailable = "agent_unavailable"
    /// A store row whose clear columns were changed outside Latchkey: refused, never acted
    /// on; the message and the daemon's log name the row.
    case bindingFailed = "binding_failed"
    // 503: nothing can be changed or released.
    case auditUnavailable = "audit_unavailable"
    case storeUnavailable = "store_unavailable"

    /// The HTTP status of an answer with this code.
    package var status: Int {
        switch self {
        case .badRequest, .badHTTP, .invalid, .sealOpenFailed, .keyFileRefused, .tokenRejected, .scmConfiguration, .scmUnsupportedKey: 400
        case .noPeerCredentials, .noSession, .invalidSession, .sessionExpired, .sessionUsedUp: 401
        case .notAdmin, .notRunner, .notAuditor, .notWebhookReceiver, .badSignature, .peerNotAllowed, .projectNotAllowed, .grantNotAllowed,
            .grantMissing, .ttlTooLong, .tooManyUses, .secretRevoked, .tokenExpired, .permissionNotAllowed, .unknownKey, .agentNotYours,
            .peerChanged, .sessionLimit, .tooManyConnections:
            403
        case .notFound: 404
        case .methodNotAllowed: 405
        case .requestTimeout: 408
        case .conflict, .noDeployKey, .noToken, .liveSessions, .noCertificateAuthority, .noCertificatePrincipals, .certificateSettingsInvalid, .scmKeyInUse,
            .noGitHubApp, .noWebhook, .webhookExists:
            409
        case .bodyTooLarge: 413
        case .headersTooLarge: 431
        case .internalFault, .agentUnavailable, .bindingFailed: 500
        case .scmUnauthorized, .scmForbidden, .scmNotFound, .scmRateLimited, .scmServerError, .scmRejected, .scmTimeout, .scmUnreachable,
            .scmTLSFailed, .scmBadResponse:
            502
        case .auditUnavailable, .storeUnavailable: 503
        }
    }

    /// How the refusal's audit row reads: `denied` when the policy or the session said no
    /// (401, 403), `failed` for bad input, conflicts and faults.
    package var outcome: AuditEntry.Outcome {
        switch status {
        case 401, 403: .denied
        default: .failed
        }
    }

    /// What an answer says when the code's site has nothing more precise to add.
    package var defaultMessage: String {
        switch self {
        case .badRequest: "the request is malformed; the message names the field"
        case .badHTTP: "malformed HTTP request"
        case .invalid: "a value is not allowed; the message says which and what is"
        case .sealOpenFailed: "the sealed value did not open: it was altered, or sealed to another daemon's intake key"
        case .keyFileRefused: "the new key file cannot be used; the message says why"
        case .tokenRejected: "the SCM server does not accept the new token; nothing was stored"
        case .noPeerCredentials: "peer credentials unavailable"
        case .noSession: "present the session token as `Authorization: Bearer lks_…` (LATCHKEY_SESSION)"
        case .invalidSession: "the session token is not valid or its session has ended"
        case .sessionExpired: "the session has expired"
        case .sessionUsedUp: "the session has used all of its uses"
        case .notAdmin: "the peer is not an admin in the policy"
        case .notRunner: "the peer is not a runner in the policy"
        case .notAuditor: "the peer is not an auditor in the policy"
        case .notWebhookReceiver: "the peer is not a webhook receiver for this project in the policy"
        case .badSignature: "the delivery's signature does not match the webhook's secret"
        case .peerNotAllowed: "the peer may not redeem this session"
        case .projectNotAllowed: "the policy lets the peer open no sessions for this project"
        case .grantNotAllowed: "the runner rule does not allow this grant"
        case .grantMissing: "the session was not granted this"
        case .ttlTooLong: "the TTL exceeds the policy's cap"
        case .tooManyUses: "the uses exceed the policy's cap"
        case .secretRevoked: "the version has been revoked or its grace has ended"
        case .tokenExpired: "the token has expired; it is never released"
        case .permissionNotAllowed: "the runner rule's repo_token block does not allow this permission"
        case .unknownKey: "the agent holds no such key"
        case .agentNotYours: "this session's agent was opened by another uid; it serves only that uid"
        case .peerChanged: "the process that opened this connection has exited or changed its uid; connect again"
        case .sessionLimit: "the runner holds as many live sessions as the daemon allows; close some first"
        case .tooManyConnections: "the uid holds as many connections as the daemon allows"
        case .notFound: "no such thing"
        case .methodNotAllowed: "the method is not allowed on this path; see the Allow header"
        case .requestTimeout: "the request did not arrive whole in time"
        case .conflict: "the state does not allow this"
        case .noDeployKey: "the project has no active deploy key"
        case .noToken: "the connection has no active token"
        case .liveSessions: "the project has live sessions"
        case .noCertificateAuthority: "the connection has no active SSH certificate authority"
        case .noCertificatePrincipals: "the connection names no certificate principals"
        case .certificateSettingsInvalid: "the connection's certificate settings cannot be issued"
        case .noGitHubApp: "the connection has no active GitHub App key to mint repository tokens with"
        case .noWebhook: "the project has no webhook installed by Latchkey"
        case .webhookExists: "a webhook for this URL already exists on the repository"
        case .scmKeyInUse: "the deploy key is already installed elsewhere on the SCM server"
        case .scmConfiguration: "the connection's settings cannot work (an https API URL, a readable PEM CA file)"
        case .scmUnsupportedKey: "the SCM server does not accept this key type"
        case .scmUnauthorized: "the SCM server does not accept the connection's token"
        case .scmForbidden: "the connection's token lacks a scope or permission for this"
        case .scmNotFound: "the SCM server has no such repository, key or hook (or the token may not see it)"
        case .scmRateLimited: "the SCM server's rate limit is spent"
        case .scmServerError: "the SCM server failed"
        case .scmRejected: "the SCM server refused the request"
        case .scmTimeout: "the SCM server did not answer in time"
        case .scmUnreachable: "the SCM server cannot be reached"
        case .scmTLSFailed: "the SCM server's certificate is not trusted or not for its host"
        case .scmBadResponse: "the SCM server's answer is not what its API documents"
        case .bodyTooLarge: "the request body is over the limit"
        case .headersTooLarge: "the request headers are over the limit"
        case .internalFault: "the daemon hit an internal fault; it is in the daemon's log"
        case .agentUnavailable: "the session's ssh-agent could not be started"
        case .bindingFailed: "a row of the store was changed outside Latchkey; nothing from it was shown or released"
        case .auditUnavailable: "the audit log cannot be written; nothing was changed or released"
        case .storeUnavailable: "the store cannot be read or written"
        }
    }
}
