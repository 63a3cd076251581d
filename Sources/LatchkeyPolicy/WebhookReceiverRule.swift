/// One `webhook_receivers:` entry: who may ask the daemon to verify webhook deliveries,
/// for which projects. A receiver holds no secret and gets none: it forwards a delivery's
/// body and signature header and learns only whether it is genuine (and by which version).
public struct WebhookReceiverRule: Sendable, Hashable {
    /// The rule's label, unique among the policy's receiver rules.
    public let name: String
    let location: SourceLocation
    /// The projects whose deliveries the receivers may have verified.
    public let projects: [Glob]
    /// Who the receivers are (`who`).
    let receivers: IdentitySet

    public var source: String { location.description }

    public func covers(project: String) -> Bool { projects.contains { $0.matches(project) } }

    func admits(_ peer: PeerIdentity) -> Bool { receivers.contains(peer) }
}
