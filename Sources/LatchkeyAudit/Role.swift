/// Who an audit row says acted, listed once. The first four are the roles a policy
/// names (and an endpoint may require); `daemon` marks the daemon's own events and
/// `anonymous` a peer the policy does not name for what it asked.
package enum Role: String, CaseIterable, Sendable {
    case admin, runner, build, auditor
    case daemon, anonymous

    /// The roles a policy grants and endpoints require.
    package static let policyRoles: [Role] = [.admin, .runner, .build, .auditor]
}
