package import LatchkeyAudit
package import LatchkeyPolicy

/// A policy reload reaches live sessions: each is checked against the new rules, as if
/// it were opened now by the same runner for the same project, and either carries on
/// under the new rule (whose `builds` decide its redeems from then on) or ends, audited
/// with reason `policy-changed`. Sessions that end: the runner has no rule for the
/// project any more; the new rule does not grant what the session carries; or the
/// uid its agent serves may no longer redeem. A build removed from `builds` is refused
/// at its next redeem (`peer_not_allowed`), because the session now holds the new rule.
enum SessionRecheck {
    enum Verdict: Equatable {
        case keep(RunnerRule)
        case end
    }

    /// What the new `policy` makes of session `s` (whose agent, if any, serves `agentPeer`).
    static func verdict(for s: BuildSession, agentPeer: PeerIdentity?, under policy: Policy) -> Verdict {
        let runner = PeerIdentity(uid: s.runner.uid, gid: s.runner.gid, pid: s.runner.pid)
        guard let rule = policy.runnerRule(for: runner, project: s.project) else { return .end }
        for grant in s.grants where !rule.allows(grant) { return .end }
        if s.grants.contains(.repoToken) {
            let asked = s.repoTokenPermissions.compactMap { try? RepoTokenPermission.parse($0).get() }
            if rule.repoToken.firstRefused(asked) != nil { return .end }
        }
        if let agentPeer, !rule.mayRedeem(agentPeer) { return .end }
        return .keep(rule)
    }
}

extension Vault {
    /// Applies a freshly loaded policy to the live sessions; returns how many ended.
    func recheckSessions(under fresh: Policy, requestID: String? = nil) async -> Int {
        let agentPeers = agents.boundPeers()
        var ending = Set<String>()
        for s in sessions.all() {
            switch SessionRecheck.verdict(for: s, agentPeer: agentPeers[s.id], under: fresh) {
            case .keep(let rule): sessions.update(id: s.id) { $0.rule = rule }
            case .end: ending.insert(s.id)
            }
        }
        guard !ending.isEmpty else { return 0 }
        let ids = ending
        return await endSessions(.policyChanged, requestID: requestID) { ids.contains($0.id) }
    }
}
