/// Who an audit row says acted, listed once. The first five are the roles a policy
/// names (and an endpoint may require); `daemon` marks the daemon's own events and
/// `anonymous` a peer the policy does not name for what it asked.
package enum Role: String, CaseIterable, Sendable {
    case admin, runner, build, auditor
    /// The CI's webhook receiver: forwards deliveries for Latchkey to verify (policy
    /// `webhook_receivers`), never holds a secret.
    case webhookReceiver = "webhook-receiver"
    case daemon, anonymous

    /// The roles a policy grants and endpoints require.
    package static let policyRoles: [Role] = [.admin, .runner, .build, .auditor, .webhookReceiver]
}
