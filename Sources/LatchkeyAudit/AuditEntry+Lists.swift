/// Rows built from the listed actions and roles, so the daemon never spells one by hand.
extension AuditEntry {
    package init(
        actor: Actor, action: AuditAction, target: Target = .init(), outcome: Outcome, reason: String? = nil, requestID: String? = nil,
        clientRequestID: String? = nil
    ) {
        self.init(
            actor: actor, action: action.rawValue, target: target, outcome: outcome, reason: reason, requestID: requestID,
            clientRequestID: clientRequestID)
    }
}

extension AuditEntry.Actor {
    package init(role: Role, uid: UInt32? = nil, gid: UInt32? = nil, pid: Int32? = nil, sessionID: String? = nil) {
        self.init(role: role.rawValue, uid: uid, gid: gid, pid: pid, sessionID: sessionID)
    }
}
