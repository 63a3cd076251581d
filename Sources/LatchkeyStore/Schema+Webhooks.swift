internal import GRDB

extension Schema {
    /// Webhooks Latchkey installs on the repositories (issue #17): `secret_version` may hold
    /// webhook secrets (kind `webhook-secret`), and `scm_webhook` records each project's hook
    /// on its server. The kind list is widened by `widenSecretKinds`, as for minted tokens.
    static func addWebhooks(_ db: Database) throws {
        try widenSecretKinds(db, adding: ["webhook-secret"])
        try db.execute(sql: scmWebhooks)
    }

    static let scmWebhooks = """
        -- A project's webhook on its repository, installed by Latchkey; its secret's versions
        -- are the project's `webhook-secret` rows. One hook per project. The state says what
        -- is done on the server, so that nothing is half done across a crash:
        -- 'installing': the secret is sealed and the hook is being created; no server id yet
        --   (a restart looks for the hook by its URL, adopts it or forgets the install).
        -- 'installed': the hook is `server_hook_id` and holds the active version's secret.
        -- 'updating': `pending_version` is being set on the hook (rotate); a restart sets it
        --   again (the update call is idempotent). The previous version verifies in its grace.
        -- 'removing': the hook's removal is asked; retried at start and by `webhook remove`.
        -- `binding_mac` covers every column the daemon acts on (docs/STORE.md). A project with
        -- a hook cannot be removed (remove the hook first).
        CREATE TABLE scm_webhook (
            project         TEXT PRIMARY KEY NOT NULL REFERENCES project(name) ON DELETE RESTRICT,
            connection      TEXT NOT NULL,
            repo            TEXT NOT NULL,
            url             TEXT NOT NULL,
            events          TEXT NOT NULL,
            state           TEXT NOT NULL CHECK (state IN ('installing', 'installed', 'updating', 'removing')),
            server_hook_id  TEXT,
            pending_version INTEGER CHECK (pending_version IS NULL OR pending_version >= 1),
            last_error      TEXT,
            created_at      TEXT NOT NULL,
            updated_at      TEXT NOT NULL,
            binding_mac     BLOB NOT NULL CHECK (length(binding_mac) = 32),
            CHECK (state = 'installing' OR server_hook_id IS NOT NULL),
            CHECK ((state = 'updating') = (pending_version IS NOT NULL))
        ) STRICT;
        """
}
