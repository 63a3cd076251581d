/// The migrations of token verification (issue #17) and of the row MACs over the SCM
/// columns. Like every migration, never modified once shipped.
extension Schema {
    /// What the SCM server last said about a token version: at `token put` (unless
    /// `--no-verify`) and at the daemon's daily re-verification. One row per version (the
    /// latest check); it goes with its version. `binding_mac` (docs/STORE.md, `lkrowmac`
    /// id 8) covers every column and the version's owner, number and creation time, so a
    /// store writer cannot make a rejected token look verified, nor move a result onto
    /// another version. The table is new, so every row is written by the unlocked daemon
    /// and the MAC is never NULL.
    static let tokenVerificationResults = """
        CREATE TABLE token_verification (
            secret_version_id INTEGER PRIMARY KEY REFERENCES secret_version(id) ON DELETE CASCADE,
            checked_at  TEXT NOT NULL,
            -- ok: the server accepts it and nothing the projects need is missing;
            -- missing-scopes: accepted, but a scope or permission is missing (see missing);
            -- rejected: the server does not accept it (401, or revoked / inactive);
            -- unreachable: no answer (network, TLS, timeout, 5xx, rate limit);
            -- failed: the server answered something Latchkey could not use (see message).
            state       TEXT NOT NULL CHECK (state IN ('ok', 'missing-scopes', 'rejected', 'unreachable', 'failed')),
            user        TEXT,
            scopes      TEXT,                        -- JSON array; NULL where the server lists none
            expires_at  TEXT,                        -- as the server reported it
            missing     TEXT NOT NULL DEFAULT '[]',  -- JSON array of what the projects need and it lacks
            message     TEXT,                        -- the error, for rejected / unreachable / failed
            binding_mac BLOB NOT NULL CHECK (length(binding_mac) = 32)
        ) STRICT;
        """

    /// MACs over the SCM columns the daemon acts on (docs/STORE.md, `lkrowmac` ids 5–7): a
    /// connection's CA file, a project's deploy-key install switches, and each installed
    /// key's server id and state. NULL only until the one-time upgrade at the first unlock
    /// after this migration (it needs the master key; `KeyRing.unlock`), after which the
    /// store's key generation is wrapped as `latchkey/kek/v3` and a NULL MAC fails.
    static let scmColumnsBinding = """
        ALTER TABLE connection ADD COLUMN scm_binding_mac BLOB CHECK (scm_binding_mac IS NULL OR length(scm_binding_mac) = 32);
        ALTER TABLE project ADD COLUMN scm_binding_mac BLOB CHECK (scm_binding_mac IS NULL OR length(scm_binding_mac) = 32);
        ALTER TABLE scm_deploy_key ADD COLUMN binding_mac BLOB CHECK (binding_mac IS NULL OR length(binding_mac) = 32);
        """
}
