/// Every action an audit row can name, listed once. The daemon writes only these; the
/// endpoint table gives each route one of them, and a test holds this list against
/// docs/AUDIT.md. A row read back from the store keeps its action as text
/// (`AuditEntry.action`), so an older row with an action no longer listed still reads.
package enum AuditAction: String, CaseIterable, Sendable {
    // The daemon's own events.
    case daemonStart = "daemon.start"
    case daemonStop = "daemon.stop"
    case policyLoad = "policy.load"
    case policyReload = "policy.reload"
    /// Housekeeping revoked versions whose grace ended.
    case secretRetire = "secret.retire"
    /// A session ended by the daemon (expiry, use-up, revocation, removal, restart).
    case sessionEnd = "session.end"
    /// One attempt of one request to an SCM server's API (reason: `METHOD /path → STATUS in N ms`).
    case scmRequest = "scm.request"
    /// The daily re-verification of a token with its SCM server (reason: `ok`,
    /// `missing-scopes`, `rejected`, `unreachable` or `failed`).
    case tokenVerify = "token.verify"

    /// A request no endpoint takes: unknown path (404), wrong method (405); or one the
    /// adapter refused before routing (413, 431, 408, 400 bad_http, 401 no_peer_credentials).
    case requestRefused = "request.refused"
    /// Refusals past their uid's rows for one second, counted: "N refusals of CODE
    /// (ACTION) from uid U in the last second" (the reason).
    case refusalSummary = "refusal.summary"

    // Admins.
    case connectionAdd = "connection.add"
    case connectionList = "connection.list"
    case connectionShow = "connection.show"
    case connectionRemove = "connection.remove"
    case projectAdd = "project.add"
    case projectList = "project.list"
    case projectShow = "project.show"
    case projectRemove = "project.remove"
    case deployKeyCreate = "deploy-key.create"
    case deployKeyRotate = "deploy-key.rotate"
    case deployKeyList = "deploy-key.list"
    case deployKeyShow = "deploy-key.show"
    case deployKeyRevoke = "deploy-key.revoke"
    /// A deploy-key version installed on, or removed from, its SCM server (by an admin,
    /// or by the daemon at grace end, revocation and reconciliation).
    case deployKeyInstall = "deploy-key.install"
    case deployKeyUninstall = "deploy-key.uninstall"
    case projectSet = "project.set"
    case intakeKeyShow = "intake-key.show"
    case tokenPut = "token.put"
    case tokenList = "token.list"
    case tokenRevoke = "token.revoke"
    case masterKeyRotate = "master-key.rotate"
    /// The root key (key file or passphrase) replaced.
    case masterKeyRekey = "master-key.rekey"
    case sessionList = "session.list"
    case sessionRevoke = "session.revoke"
    case certificateAuthorityCreate = "ssh-ca.create"
    case certificateAuthorityRotate = "ssh-ca.rotate"
    case certificateAuthorityShow = "ssh-ca.show"
    case certificateAuthorityRevoke = "ssh-ca.revoke"
    case connectionShowCertificates = "connection.show-certificates"
    case connectionSetCertificates = "connection.set-certificates"
    /// Settings of the connection itself (its API's CA file).
    case connectionSet = "connection.set"
    /// The server was asked about the connection's active token.
    case connectionVerify = "connection.verify"
    case storeBackup = "store.backup"
    /// A connection's GitHub App key put (a new version), listed, revoked.
    case githubAppPut = "github-app.put"
    case githubAppList = "github-app.list"
    case githubAppRevoke = "github-app.revoke"
    /// The repository tokens minted for sessions, and their pending revocations.
    case mintedTokenList = "minted-token.list"
    /// Webhooks Latchkey installs on the repositories, with secrets it keeps (by an admin,
    /// or by the daemon when it reconciles an install, rotation or removal a crash cut short).
    case webhookInstall = "webhook.install"
    case webhookList = "webhook.list"
    case webhookShow = "webhook.show"
    case webhookRotate = "webhook.rotate"
    case webhookRemove = "webhook.remove"

    // Admins and auditors.
    case metricsRead = "metrics.read"

    // Runners.
    case sessionOpen = "session.open"
    case sessionClose = "session.close"
    /// A session's SSH certificate was signed (its reason holds serial, key id, validity, principals).
    case sshCertIssue = "ssh-cert.issue"
    /// A repository token minted on the SCM server for a session (reason: the server's
    /// token id, repository, permissions, expiry), or its mint failed.
    case repoTokenMint = "repo-token.mint"
    /// A session's minted token revoked on the server (or the attempt failed and is retried).
    case repoTokenRevoke = "repo-token.revoke"

    // Webhook receivers.
    /// A delivery's signature checked (reason on refusal: `bad_signature`; version on success).
    case webhookVerify = "webhook.verify"

    // Builds.
    case secretRelease = "secret.release"
    case sessionShow = "session.show"
    case agentOpen = "agent.open"
    case agentConnect = "agent.connect"
    case agentSign = "agent.sign"

    // Auditors.
    case auditList = "audit.list"
    case auditExport = "audit.export"
    case auditPublicKey = "audit.public-key"
}
