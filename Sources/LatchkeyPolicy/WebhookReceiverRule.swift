/// One `webhook_receivers:` entry: who may ask the daemon to verify webhook deliveries,
/// for which projects. A receiver holds no secret and gets none: it forwards a delivery's
/// body and signature header and learns only whether it is genuine (and by which version).
package struct WebhookReceiverRule: Sendable, Hashable {
    /// The rule's label, unique among the policy's receiver rules.
    package let name: String
    let location: SourceLocation
    /// The projects whose deliveries the receivers may have verified.
    package let projects: [Glob]
    /// Who the receivers are (`who`).
    let receivers: IdentitySet

    package var source: String { location.description }

    package func covers(project: String) -> Bool { projects.contains { $0.matches(project) } }

    func admits(_ peer: PeerIdentity) -> Bool { receivers.contains(peer) }
}
