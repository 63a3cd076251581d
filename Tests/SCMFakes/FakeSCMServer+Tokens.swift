/// Changing a token as the server sees it — what an administrator of the real server does
/// (drops a scope, sets an expiry, revokes it), so tests can show what Latchkey notices.
extension FakeSCMServer {
    /// Changes the token of user `name`: `scopes` (`.some(nil)` makes a GitHub token
    /// fine-grained), `expiresAt`, or `active: false` (revoked: every request gets 401).
    package func updateUser(_ name: String, scopes: [String]?? = nil, expiresAt: String?? = nil, active: Bool? = nil) {
        state.withLock { s in
            for i in s.users.indices where s.users[i].name == name {
                if let scopes { s.users[i].scopes = scopes }
                if let expiresAt { s.users[i].expiresAt = expiresAt }
                if let active { s.users[i].active = active }
            }
        }
    }
}
