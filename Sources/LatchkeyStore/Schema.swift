internal import GRDB

/// The store's schema, as numbered migrations. A migration is never modified once it
/// has shipped; tables are named with plain strings. The schema carries the rules.
enum Schema {
    /// The newest schema this build knows. A store whose `schema_version` is higher
    /// was written by a newer Latchkey and is refused (no silent downgrade).
    static let currentVersion = 13

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in try db.execute(sql: v1) }
        m.registerMigration("ssh-ca-secret-kind-and-serials") { db in try addSSHCertificateAuthorities(db) }
        m.registerMigration("connection-certificate-settings") { db in try db.execute(sql: connectionCertificateSettings) }
        m.registerMigration("audit-actor-ranges") { db in try db.execute(sql: auditActorRanges) }
        m.registerMigration("audit-checkpoint-chain") { db in try db.execute(sql: auditCheckpointChain) }
        m.registerMigration("row-bindings") { db in try db.execute(sql: rowBindings) }
        m.registerMigration("certificate-settings-binding") { db in try db.execute(sql: certificateSettingsBinding) }
        m.registerMigration("scm-connection-ca-file-and-deploy-key-install-state") { db in try db.execute(sql: scmInstallState) }
        m.registerMigration("audit-client-request-id") { db in try db.execute(sql: auditClientRequestID) }
        m.registerMigration("github-app-keys-minted-tokens-and-their-revocation-queue") { db in try addMintedRepositoryTokens(db) }
        m.registerMigration("webhook-secret-kind-and-scm-webhooks") { db in try addWebhooks(db) }
        m.registerMigration("token-verification-results") { db in try db.execute(sql: tokenVerificationResults) }
        m.registerMigration("scm-columns-binding") { db in try db.execute(sql: scmColumnsBinding) }
        m.registerMigration("session-host-and-changes") { db in try db.execute(sql: sessionHostAndChanges) }
        return m
    }

    /// A fleet's pieces, in the same schema on both engines: the host whose daemon holds
    /// each session (its start and stop end only its own), the host that wrote each audit
    /// row (NULL on a single host's store: docs/AUDIT.md), and the `changes` feed through
    /// which the daemons of a shared store learn what another ended or revoked. On SQLite
    /// one daemon serves a store, so nothing writes `changes` there (PostgreSQL's triggers
    /// do; see `PostgresSchema`); the table is here so both engines have the same schema.
    static let sessionHostAndChanges = """
        ALTER TABLE session ADD COLUMN host TEXT NOT NULL DEFAULT '';
        ALTER TABLE audit ADD COLUMN host TEXT;
        CREATE INDEX session_open_by_host ON session(host) WHERE ended_at IS NULL;
        CREATE TABLE changes (
            id    INTEGER PRIMARY KEY,
            time  TEXT NOT NULL,
            what  TEXT NOT NULL CHECK (what IN ('session', 'project', 'connection', 'secret-version', 'key-generation')),
            ref   TEXT NOT NULL
        ) STRICT;
        """

    /// uid and gid are 32-bit unsigned, a pid 32-bit signed: the audit encoding writes them
    /// as u32, so a value outside would hash like a different one. New rows outside are
    /// refused here; the verifier refuses stored ones (see `AuditRowEncoder`). The session
    /// table's runner uid likewise. (A check on an existing column needs a table rebuild,
    /// which the append-only audit table refuses; a trigger on INSERT holds the same rule.)
    static let auditActorRanges = """
        CREATE TRIGGER audit_actor_in_range BEFORE INSERT ON audit
            WHEN NEW.actor_uid NOT BETWEEN 0 AND 4294967295
              OR NEW.actor_gid NOT BETWEEN 0 AND 4294967295
              OR NEW.actor_pid NOT BETWEEN -2147483648 AND 2147483647
              OR typeof(NEW.actor_uid) NOT IN ('integer', 'null')
              OR typeof(NEW.actor_gid) NOT IN ('integer', 'null')
              OR typeof(NEW.actor_pid) NOT IN ('integer', 'null')
            BEGIN SELECT RAISE(ABORT, 'audit actor uid, gid or pid out of range'); END;
        CREATE TRIGGER session_runner_uid_in_range BEFORE INSERT ON session
            WHEN NEW.runner_uid NOT BETWEEN 0 AND 4294967295
            BEGIN SELECT RAISE(ABORT, 'session runner uid out of range'); END;
        """

    /// Checkpoints chain to each other: `prev_hash` is the hash of the previous
    /// checkpoint's signed message (docs/AUDIT.md). NULL for checkpoints signed before the
    /// chain existed (format v1), which may only come before every chained one.
    static let auditCheckpointChain = """
        ALTER TABLE audit_checkpoint ADD COLUMN prev_hash BLOB CHECK (prev_hash IS NULL OR length(prev_hash) = 32);
        """

    /// A MAC over every clear column the daemon acts on (docs/STORE.md), keyed by a sub-key
    /// only the unlocked daemon holds. NULL only until the one-time upgrade at the first
    /// unlock after this migration (`KeyRing.unlock`), which needs the master key; a bound
    /// store (its key generation wrapped as `latchkey/kek/v2`) refuses a NULL one.
    /// What a connection's certificates say (principals, extensions, key id user) is bound
    /// like the other clear columns the daemon acts on (docs/STORE.md).
    static let certificateSettingsBinding = """
        ALTER TABLE connection_certificate_settings ADD COLUMN binding_mac BLOB CHECK (binding_mac IS NULL OR length(binding_mac) = 32);
        """

    static let rowBindings = """
        ALTER TABLE secret_version ADD COLUMN binding_mac BLOB CHECK (binding_mac IS NULL OR length(binding_mac) = 32);
        ALTER TABLE project ADD COLUMN binding_mac BLOB CHECK (binding_mac IS NULL OR length(binding_mac) = 32);
        ALTER TABLE connection ADD COLUMN binding_mac BLOB CHECK (binding_mac IS NULL OR length(binding_mac) = 32);
        """

    static let v1 = """
        -- Key/value facts about the store: schema version, root-key kind, Argon2id salt
        -- and limits, root-key check value, audit public key. Nothing secret.
        CREATE TABLE metadata (
            key   TEXT PRIMARY KEY NOT NULL,
            value TEXT NOT NULL
        ) STRICT;

        -- One key-encryption key per generation, wrapped under the root key. Exactly one
        -- is active; rotation adds one, re-wraps every data key and deletes the old one
        -- in the same transaction.
        CREATE TABLE key_generation (
            generation  INTEGER PRIMARY KEY CHECK (generation >= 1),
            wrapped_kek BLOB NOT NULL,
            created_at  TEXT NOT NULL
        ) STRICT;

        -- SCM servers (GitHub Enterprise, GitLab, Bitbucket Server).
        CREATE TABLE connection (
            id         INTEGER PRIMARY KEY,
            name       TEXT NOT NULL UNIQUE,
            kind       TEXT NOT NULL CHECK (kind IN ('github-enterprise', 'gitlab', 'bitbucket-server')),
            web_url    TEXT NOT NULL,
            api_url    TEXT NOT NULL,
            ssh_url    TEXT NOT NULL,
            created_at TEXT NOT NULL,
            UNIQUE (web_url, name)
        ) STRICT;

        -- A repository on a connection; a connection in use cannot be removed.
        CREATE TABLE project (
            id            INTEGER PRIMARY KEY,
            name          TEXT NOT NULL UNIQUE,
            connection_id INTEGER NOT NULL REFERENCES connection(id) ON DELETE RESTRICT,
            repo          TEXT NOT NULL,
            created_at    TEXT NOT NULL
        ) STRICT;

        -- Every version of every secret, sealed (envelope: payload under its own data key,
        -- data key under the generation's KEK). `owner` names what it belongs to:
        -- 'project:<name>', 'connection:<name>' or 'daemon:<purpose>' for sub-keys.
        -- Public attributes (key type, fingerprint, username, scopes, expiry) are JSON in
        -- `attributes`; they never hold secret bytes. Removing a project or connection
        -- deletes its rows (secure_delete overwrites the pages).
        CREATE TABLE secret_version (
            id             INTEGER PRIMARY KEY,
            kind           TEXT NOT NULL CHECK (kind IN ('deploy-key', 'token', 'oauth-client', 'subkey')),
            owner          TEXT NOT NULL,
            project_id     INTEGER REFERENCES project(id) ON DELETE CASCADE,
            connection_id  INTEGER REFERENCES connection(id) ON DELETE CASCADE,
            version        INTEGER NOT NULL CHECK (version >= 1),
            state          TEXT NOT NULL CHECK (state IN ('active', 'retiring', 'revoked')),
            retire_at      TEXT,
            revoked_at     TEXT,
            created_at     TEXT NOT NULL,
            attributes     TEXT NOT NULL DEFAULT '{}',
            sealed_payload BLOB NOT NULL,
            wrapped_dek    BLOB NOT NULL,
            generation     INTEGER NOT NULL REFERENCES key_generation(generation),
            UNIQUE (kind, owner, version),
            CHECK (state != 'retiring' OR retire_at IS NOT NULL)
        ) STRICT;
        CREATE INDEX secret_version_by_generation ON secret_version(generation);

        -- Build sessions. The token is never stored: only its keyed BLAKE2b hash.
        -- Sessions end by close, TTL, uses, revocation or daemon restart.
        CREATE TABLE session (
            id          TEXT PRIMARY KEY NOT NULL,
            token_hash  BLOB NOT NULL UNIQUE,
            project     TEXT NOT NULL,
            build_id    TEXT NOT NULL,
            runner_uid  INTEGER NOT NULL,
            grants      TEXT NOT NULL,
            max_uses    INTEGER NOT NULL CHECK (max_uses >= 1),
            uses        INTEGER NOT NULL DEFAULT 0 CHECK (uses >= 0),
            created_at  TEXT NOT NULL,
            expires_at  TEXT NOT NULL,
            ended_at    TEXT,
            end_reason  TEXT
        ) STRICT;

        -- The audit log: append-only and hash-chained (see docs/AUDIT.md).
        CREATE TABLE audit (
            seq               INTEGER PRIMARY KEY CHECK (seq >= 1),
            time              TEXT NOT NULL,
            actor_role        TEXT NOT NULL,
            actor_uid         INTEGER,
            actor_gid         INTEGER,
            actor_pid         INTEGER,
            session_id        TEXT,
            action            TEXT NOT NULL,
            target_connection TEXT,
            target_project    TEXT,
            target_kind       TEXT,
            target_version    INTEGER,
            outcome           TEXT NOT NULL CHECK (outcome IN ('granted', 'denied', 'failed')),
            reason            TEXT,
            request_id        TEXT,
            prev_hash         BLOB NOT NULL CHECK (length(prev_hash) = 32),
            row_hash          BLOB NOT NULL CHECK (length(row_hash) = 32)
        ) STRICT;

        -- Signed checkpoints over the chain head.
        CREATE TABLE audit_checkpoint (
            id         INTEGER PRIMARY KEY CHECK (id >= 1),
            audit_seq  INTEGER NOT NULL,
            head_hash  BLOB NOT NULL CHECK (length(head_hash) = 32),
            time       TEXT NOT NULL,
            public_key BLOB NOT NULL CHECK (length(public_key) = 32),
            signature  BLOB NOT NULL CHECK (length(signature) = 64)
        ) STRICT;

        -- Append-only, enforced for every connection (the sqlite3 tool included):
        -- UPDATE and DELETE are refused, and so is any INSERT whose key is not exactly
        -- max + 1, which also closes INSERT OR REPLACE / REPLACE (a REPLACE deletes past
        -- BEFORE DELETE triggers unless that connection has recursive_triggers on).
        CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
            BEGIN SELECT RAISE(ABORT, 'audit rows are append-only: UPDATE refused'); END;
        CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
            BEGIN SELECT RAISE(ABORT, 'audit rows are append-only: DELETE refused'); END;
        CREATE TRIGGER audit_next_seq_only BEFORE INSERT ON audit
            WHEN NEW.seq IS NOT (SELECT IFNULL(MAX(seq), 0) + 1 FROM audit)
            BEGIN SELECT RAISE(ABORT, 'audit rows are append-only: seq must be max(seq) + 1'); END;
        CREATE TRIGGER audit_checkpoint_no_update BEFORE UPDATE ON audit_checkpoint
            BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only: UPDATE refused'); END;
        CREATE TRIGGER audit_checkpoint_no_delete BEFORE DELETE ON audit_checkpoint
            BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only: DELETE refused'); END;
        CREATE TRIGGER audit_checkpoint_next_only BEFORE INSERT ON audit_checkpoint
            WHEN NEW.id IS NOT (SELECT IFNULL(MAX(id), 0) + 1 FROM audit_checkpoint)
            BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only: id must be max(id) + 1'); END;
        """

    /// Lets `secret_version` hold SSH certificate authorities (kind `ssh-ca`) and adds
    /// the per-CA serial counter.
    ///
    /// SQLite cannot change a CHECK constraint in place, so the table is rebuilt from its
    /// own stored definition with `'ssh-ca'` added to the kind list: columns, indexes and
    /// triggers are kept exactly as earlier migrations left them. (GRDB runs migrations
    /// with foreign keys off and checks them all before commit.)
    static func addSSHCertificateAuthorities(_ db: Database) throws {
        let kindList = "'oauth-client', 'subkey'"
        guard let create = try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'secret_version'"),
            let kinds = create.range(of: kindList), let name = create.range(of: "secret_version")
        else {
            throw StoreError.corrupt(path: "store", reason: "secret_version's definition is not the one this migration knows")
        }
        var widened = create
        widened.replaceSubrange(kinds, with: kindList + ", 'ssh-ca'")
        widened.replaceSubrange(name, with: "secret_version_with_ssh_ca")
        let dependents = try String.fetchAll(
            db, sql: "SELECT sql FROM sqlite_master WHERE tbl_name = 'secret_version' AND type IN ('index', 'trigger') AND sql IS NOT NULL")
        try db.execute(sql: widened)
        try db.execute(sql: "INSERT INTO secret_version_with_ssh_ca SELECT * FROM secret_version")
        try db.execute(sql: "DROP TABLE secret_version")
        try db.execute(sql: "ALTER TABLE secret_version_with_ssh_ca RENAME TO secret_version")
        for sql in dependents { try db.execute(sql: sql) }
        try db.execute(sql: sshCertificateSerials)
    }

    static let sshCertificateSerials = """
        -- The last serial each connection's CA handed out. A serial is reserved (and this
        -- row committed, synchronously) before a certificate is signed with it, so no
        -- serial is issued twice, also across restarts and crashes. It survives CA
        -- rotation: every version of a connection's CA shares one sequence.
        CREATE TABLE ssh_certificate_serial (
            connection_id INTEGER PRIMARY KEY REFERENCES connection(id) ON DELETE CASCADE,
            last_serial   INTEGER NOT NULL CHECK (last_serial >= 1)
        ) STRICT;
        """

    static let auditClientRequestID = """
        -- The X-Request-Id a client sent, kept apart from the daemon's own request id
        -- (request_id), so a client cannot make its rows look like another request's.
        -- NULL when the client sent none (and on every row written before this column).
        -- Hashed into the row only when present (docs/AUDIT.md).
        ALTER TABLE audit ADD COLUMN client_request_id TEXT;
        """

    static let connectionCertificateSettings = """
        -- What a connection's SSH user certificates say: principals (JSON array of
        -- strings), extensions (JSON array of 'name' or 'name=value'), and the username
        -- that replaces the key id (GitLab matches the key id to a user). No row: no
        -- principals, and a session asking for ssh-cert is refused.
        CREATE TABLE connection_certificate_settings (
            connection_id   INTEGER PRIMARY KEY REFERENCES connection(id) ON DELETE CASCADE,
            principals      TEXT NOT NULL DEFAULT '[]',
            extensions      TEXT NOT NULL DEFAULT '[]',
            key_id_username TEXT
        ) STRICT;
        """

    /// What Latchkey does on the SCM servers themselves (issue #17): the CA a connection
    /// trusts, whether a project's deploy keys are installed by Latchkey, and the state of
    /// each installed key on its server, so that nothing is half done across a crash.
    static let scmInstallState = """
        -- A PEM file of the CA certificates the daemon trusts for this server's API (NULL:
        -- the system's CA store).
        ALTER TABLE connection ADD COLUMN ca_file TEXT;

        -- Latchkey installs the project's deploy keys on its repository (1), read-only
        -- unless deploy_key_write is 1.
        ALTER TABLE project ADD COLUMN install_deploy_key INTEGER NOT NULL DEFAULT 0 CHECK (install_deploy_key IN (0, 1));
        ALTER TABLE project ADD COLUMN deploy_key_write INTEGER NOT NULL DEFAULT 0 CHECK (deploy_key_write IN (0, 1));

        -- One row per deploy-key version Latchkey installed (or must remove) on the server.
        -- 'installed': server_key_id is the server's id for it. 'removing': its removal is
        -- pending (grace ended, revoked, or uninstall asked) and is retried with backoff
        -- from next_attempt_at; 'removed': gone from the server. last_error says why the
        -- last attempt failed. The row outlives its secret version's material (a revoked
        -- version keeps its row until the key is gone from the server).
        CREATE TABLE scm_deploy_key (
            project         TEXT NOT NULL,
            version         INTEGER NOT NULL CHECK (version >= 1),
            repo            TEXT NOT NULL,
            connection      TEXT NOT NULL,
            state           TEXT NOT NULL CHECK (state IN ('installed', 'removing', 'removed')),
            server_key_id   TEXT NOT NULL,
            attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
            next_attempt_at TEXT,
            last_error      TEXT,
            updated_at      TEXT NOT NULL,
            PRIMARY KEY (project, version)
        ) STRICT;
        """

    /// Per-build credentials (issue #18): a connection's GitHub App private key (kind
    /// `github-app`) and the repository tokens minted for sessions (kind `minted-token`),
    /// both sealed in `secret_version` like every other secret (so master-key rotation
    /// re-wraps them and revocation destroys them), and the queue of their revocations.
    static func addMintedRepositoryTokens(_ db: Database) throws {
        try widenSecretKinds(db, adding: ["github-app", "minted-token"])
        try db.execute(sql: mintedTokenQueue)
    }

    /// Rebuilds `secret_version` from its own stored definition with `kinds` added at the end
    /// of its kind CHECK (whatever earlier migrations put in it), keeping its columns,
    /// indexes and triggers exactly as earlier migrations left them. SQLite cannot change a
    /// CHECK constraint in place. (GRDB runs migrations with foreign keys off and checks them
    /// all before commit.)
    static func widenSecretKinds(_ db: Database, adding kinds: [String]) throws {
        guard let create = try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'secret_version'"),
            let list = create.range(of: "kind IN ("), let close = create[list.upperBound...].firstIndex(of: ")"),
            let name = create.range(of: "secret_version")
        else {
            throw StoreError.corrupt(path: "store", reason: "secret_version's definition is not the one this migration knows")
        }
        var widened = create
        widened.insert(contentsOf: kinds.map { ", '\($0)'" }.joined(), at: close)
        widened.replaceSubrange(name, with: "secret_version_widened")
        let dependents = try String.fetchAll(
            db, sql: "SELECT sql FROM sqlite_master WHERE tbl_name = 'secret_version' AND type IN ('index', 'trigger') AND sql IS NOT NULL")
        try db.execute(sql: widened)
        try db.execute(sql: "INSERT INTO secret_version_widened SELECT * FROM secret_version")
        try db.execute(sql: "DROP TABLE secret_version")
        try db.execute(sql: "ALTER TABLE secret_version_widened RENAME TO secret_version")
        for sql in dependents { try db.execute(sql: sql) }
    }

    static let mintedTokenQueue = """
        -- One row per repository token minted for a session. The token itself is sealed in
        -- secret_version (kind 'minted-token', same owner), with the facts the revocation
        -- acts on (connection, repository, the server's token id) in its bound attributes;
        -- it is written before the token is released. 'minting': the server was asked and
        -- has not answered yet; `intent` (JSON: connection, repository, server kind, token
        -- name) is what finds the token on the server should the answer be lost (a crash,
        -- a timeout), by its name. 'live': in use by its session.
        -- 'revoking': the session ended (close, TTL, uses, revoke, reload, stop, restart)
        -- and the revocation on the server is pending, retried with backoff from
        -- next_attempt_at; last_error says why the last attempt failed. 'revoked': gone
        -- from the server (or expired there), and its sealed copy destroyed.
        CREATE TABLE minted_token (
            owner           TEXT PRIMARY KEY NOT NULL CHECK (owner LIKE 'minted:%'),
            session_id      TEXT NOT NULL,
            state           TEXT NOT NULL CHECK (state IN ('minting', 'live', 'revoking', 'revoked')),
            intent          TEXT NOT NULL DEFAULT '{}',
            attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
            next_attempt_at TEXT,
            last_error      TEXT,
            created_at      TEXT NOT NULL,
            updated_at      TEXT NOT NULL
        ) STRICT;
        CREATE INDEX minted_token_by_state ON minted_token(state, session_id);
        """
}

