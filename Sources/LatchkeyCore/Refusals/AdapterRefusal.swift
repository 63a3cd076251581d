package import LatchkeyAudit

extension Router {
    /// The row of a request the adapter refused before it reached the router — a body or
    /// headers over their limits (`body_too_large`, `headers_too_large`), a request that
    /// did not arrive whole in time (`request_timeout`), bytes that are not HTTP
    /// (`bad_http`), a connection whose peer the kernel would not name
    /// (`no_peer_credentials`) — so that these too leave their row, as every request does.
    /// Written as a request no endpoint takes (`request.refused`, outcome from the code)
    /// with the peer the connection has, through the same per-uid bound as every refusal
    /// (`RefusalLimiter`: a flood becomes `refusal.summary` rows), and without waiting: the
    /// adapter answers from its event loop and closes the connection.
    package func auditAdapterRefusal(_ error: APIError, peer: PeerCredentials?, requestID: String) {
        vault.metrics.refused(code: error.code.rawValue)
        vault.auditRefusal(
            AuditEntry(
                actor: .init(role: .anonymous, uid: peer?.uid, gid: peer?.gid, pid: peer?.pid), action: .requestRefused,
                outcome: error.code.outcome, reason: error.code.rawValue, requestID: requestID))
    }
}
