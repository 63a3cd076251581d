package import LatchkeyStore
import Foundation

/// The store's schema on PostgreSQL: numbered migrations, like SQLite's (`Schema`), that
/// reach the same store schema version with the same tables, columns (INTEGER → BIGINT,
/// TEXT → TEXT, BLOB → BYTEA), constraints and indexes, recorded in `schema_migrations`.
/// A migration is never modified once it has shipped; a new SQLite migration gets its
/// PostgreSQL twin appended here (`PostgresSchemaTests` holds the two to the same columns).
///
/// Append-only is enforced twice on the audit tables (`audit`, `audit_checkpoint`):
/// triggers refuse UPDATE, DELETE and TRUNCATE and any row whose key is not max + 1, and
/// the daemon's role is granted only SELECT and INSERT on them (`grantStatements`), so even
/// a daemon that is taken over cannot rewrite history; only the owner role, which runs the
/// migrations and is kept off the build hosts, could drop the triggers. `UNIQUE(seq)` (the
/// key) and `UNIQUE(prev_hash)` make a fork of the chain impossible even if two daemons
/// raced past their lock.
package enum PostgresSchema {
    package struct Migration: Sendable {
        /// PostgreSQL's own sequence: 1, 2, 3, …
        package let number: Int
        package let name: String
        /// The store schema version (`Schema.currentVersion` of the SQLite side) the
        /// database is at once this migration is applied.
        package let storeVersion: Int
        /// Run one by one in the migration's transaction (the extended protocol takes one
        /// statement at a time).
        package let statements: [String]
    }

    /// The advisory lock key migrators take (transaction-level), so two `latchkey init`
    /// runs, or two upgraded daemons, never migrate at once. ("latchkey" as ASCII.)
    package static let migrationLockKey: Int64 = 0x6c61_7463_686b_6579

    package static let migrations: [Migration] = [
        Migration(number: 1, name: "store-schema-12-tables-constraints-and-append-only-audit", storeVersion: 12, statements: schema12),
        Migration(number: 2, name: "store-schema-13-session-host-and-changes-feed", storeVersion: 13, statements: schema13),
    ]

    /// The store schema version the newest migration reaches.
    package static var storeVersion: Int { migrations.last?.storeVersion ?? 0 }

    /// Tables the daemon may only read and append to.
    package static let appendOnlyTables = ["audit", "audit_checkpoint"]
    /// Tables the daemon reads and writes.
    package static let daemonTables = [
        "metadata", "key_generation", "connection", "project", "secret_version", "session", "ssh_certificate_serial",
        "connection_certificate_settings", "scm_deploy_key", "minted_token", "scm_webhook", "token_verification", "changes",
    ]
    /// The channel the `changes` triggers notify (a wake-up only: the poll is what counts).
    package static let changesChannel = "latchkey_changes"

    /// The GRANTs that give `daemonRole` what `latchkey serve` needs and nothing more:
    /// SELECT and INSERT on the audit tables, reading and writing the others' rows, reading
    /// `schema_migrations`, the identity sequences; no DDL, no TRUNCATE, no UPDATE or DELETE
    /// of audit rows. Run by the owner role after the migrations (`latchkey init --database …
    /// --print-grants` prints them). `daemonRole` is quoted as an identifier.
    package static func grantStatements(daemonRole: String, database: String) -> [String] {
        let role = quoteIdentifier(daemonRole)
        return [
            "REVOKE ALL ON DATABASE \(quoteIdentifier(database)) FROM PUBLIC",
            "GRANT CONNECT ON DATABASE \(quoteIdentifier(database)) TO \(role)",
            "REVOKE ALL ON SCHEMA public FROM PUBLIC",
            "GRANT USAGE ON SCHEMA public TO \(role)",
            "REVOKE ALL ON ALL TABLES IN SCHEMA public FROM \(role)",
            "GRANT SELECT, INSERT ON \(appendOnlyTables.joined(separator: ", ")) TO \(role)",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON \(daemonTables.joined(separator: ", ")) TO \(role)",
            "GRANT SELECT ON schema_migrations TO \(role)",
            "GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO \(role)",
        ]
    }

    /// `grantStatements` as a psql script (one statement a line, each ending in `;`): what
    /// `latchkey init --database … --print-grants` prints.
    package static func grantScript(daemonRole: String, database: String) -> String {
        grantStatements(daemonRole: daemonRole, database: database).map { $0 + ";\n" }.joined()
    }

    /// `"name"`, with embedded quotes doubled.
    package static func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    // MARK: - Applying

    /// Brings the database to `storeVersion` as its owner: every migration not yet in
    /// `schema_migrations`, in order, in one transaction under the migration lock; then the
    /// `schema_version` metadata row. A database with a migration this build does not know,
    /// or a newer `schema_version`, is refused (never downgraded). Returns how many
    /// migrations ran (0: it was already current).
    @discardableResult
    package static func migrate(_ database: PostgresDatabase) throws(StoreError) -> Int {
        do {
            return try database.migrationTransaction { c in
                try c.executeRaw("SELECT pg_advisory_xact_lock(\(migrationLockKey))")
                try c.executeRaw(
                    """
                    CREATE TABLE IF NOT EXISTS schema_migrations (
                        number     BIGINT PRIMARY KEY CHECK (number >= 1),
                        name       TEXT NOT NULL UNIQUE,
                        applied_at TEXT NOT NULL
                    )
                    """)
                let applied = try appliedMigrations(c, location: database.location)
                var ran = 0
                for m in migrations where !applied.contains(m.number) {
                    for statement in m.statements { try c.executeRaw(statement) }
                    try c.execute(
                        "INSERT INTO schema_migrations(number, name, applied_at) VALUES (?, ?, ?)",
                        [Int64(m.number), m.name, Timestamp.now().description])
                    ran += 1
                }
                try c.execute(
                    "INSERT INTO metadata(key, value) VALUES ('schema_version', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    [String(storeVersion)])
                return ran
            }
        } catch let e as StoreError {
            throw e
        } catch let e as SQLError {
            throw e.kind == .unavailable ? .unavailable(reason: e.message) : .corrupt(path: database.location.description, reason: e.message)
        } catch {
            throw .corrupt(path: database.location.description, reason: "\(error)")
        }
    }

    /// Checks, without writing, that the database is at exactly this build's schema (what
    /// the daemon's role does at start: it cannot migrate). Older: run `latchkey init
    /// --database …` as the owner; newer: upgrade latchkey.
    package static func check(_ database: PostgresDatabase) throws(StoreError) {
        let place = database.location.description
        let found: String?
        do {
            found = try database.read { db -> String? in
                let hasTable = try Int64.fetchOne(
                    db, sql: "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = 'public' AND tablename = 'metadata'") ?? 0
                guard hasTable > 0 else { return nil }
                return try String.fetchOne(db, sql: "SELECT value FROM metadata WHERE key = 'schema_version'")
            }
        } catch let e as SQLError {
            throw e.kind == .unavailable ? .unavailable(reason: e.message) : .corrupt(path: place, reason: e.message)
        } catch {
            throw .corrupt(path: place, reason: "\(error)")
        }
        guard let found, let version = Int(found) else {
            throw .notInitialized(path: place)
        }
        if version > storeVersion { throw .newerSchema(path: place, found: version, supported: storeVersion) }
        if version < storeVersion {
            throw .unavailable(
                reason: "the database \(place) is at schema version \(version) and this latchkey needs \(storeVersion); "
                    + "run `latchkey init --database …` as the owner role to migrate it")
        }
    }

    private static func appliedMigrations(_ c: PostgresConnection, location: PostgresLocation) throws -> Set<Int> {
        var numbers = Set<Int>()
        for row in try c.rows("SELECT number, name FROM schema_migrations ORDER BY number", []) {
            let number: Int64 = row["number"]
            let name: String = row["name"]
            guard let known = migrations.first(where: { $0.number == Int(number) }), known.name == name else {
                throw StoreError.newerSchema(path: location.description, found: storeVersion + 1, supported: storeVersion)
            }
            numbers.insert(Int(number))
        }
        let hasMetadata = try c.rows("SELECT to_regclass('public.metadata') IS NOT NULL AS present", []).first?.value("present") == .integer(1)
        if hasMetadata, let v = try c.rows("SELECT value FROM metadata WHERE key = 'schema_version'", []).first?.value("value"),
            case .text(let text) = v, let found = Int(text), found > storeVersion
        {
            throw StoreError.newerSchema(path: location.description, found: found, supported: storeVersion)
        }
        return numbers
    }

    // MARK: - Migration 1: the store at schema version 12

    static let schema12: [String] = [
        """
        -- Key/value facts about the store (schema version, root-key kind, salts, check
        -- values, public keys). Nothing secret.
        CREATE TABLE metadata (
            key   TEXT PRIMARY KEY NOT NULL,
            value TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE key_generation (
            generation  BIGINT PRIMARY KEY CHECK (generation >= 1),
            wrapped_kek BYTEA NOT NULL,
            created_at  TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE connection (
            id              BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            name            TEXT NOT NULL UNIQUE,
            kind            TEXT NOT NULL CHECK (kind IN ('github-enterprise', 'gitlab', 'bitbucket-server')),
            web_url         TEXT NOT NULL,
            api_url         TEXT NOT NULL,
            ssh_url         TEXT NOT NULL,
            created_at      TEXT NOT NULL,
            binding_mac     BYTEA CHECK (binding_mac IS NULL OR length(binding_mac) = 32),
            ca_file         TEXT,
            scm_binding_mac BYTEA CHECK (scm_binding_mac IS NULL OR length(scm_binding_mac) = 32),
            UNIQUE (web_url, name)
        )
        """,
        """
        CREATE TABLE project (
            id                 BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            name               TEXT NOT NULL UNIQUE,
            connection_id      BIGINT NOT NULL REFERENCES connection(id) ON DELETE RESTRICT,
            repo               TEXT NOT NULL,
            created_at         TEXT NOT NULL,
            binding_mac        BYTEA CHECK (binding_mac IS NULL OR length(binding_mac) = 32),
            install_deploy_key BIGINT NOT NULL DEFAULT 0 CHECK (install_deploy_key IN (0, 1)),
            deploy_key_write   BIGINT NOT NULL DEFAULT 0 CHECK (deploy_key_write IN (0, 1)),
            scm_binding_mac    BYTEA CHECK (scm_binding_mac IS NULL OR length(scm_binding_mac) = 32)
        )
        """,
        """
        CREATE TABLE session (
            id          TEXT PRIMARY KEY NOT NULL,
            token_hash  BYTEA NOT NULL UNIQUE,
            project     TEXT NOT NULL,
            build_id    TEXT NOT NULL,
            runner_uid  BIGINT NOT NULL CHECK (runner_uid BETWEEN 0 AND 4294967295),
            grants      TEXT NOT NULL,
            max_uses    BIGINT NOT NULL CHECK (max_uses >= 1),
            uses        BIGINT NOT NULL DEFAULT 0 CHECK (uses >= 0),
            created_at  TEXT NOT NULL,
            expires_at  TEXT NOT NULL,
            ended_at    TEXT,
            end_reason  TEXT
        )
        """,
        """
        -- The audit log: append-only and hash-chained (docs/AUDIT.md). uid and gid are
        -- 32-bit unsigned and a pid 32-bit signed, as the audit encoding writes them.
        CREATE TABLE audit (
            seq               BIGINT PRIMARY KEY CHECK (seq >= 1),
            time              TEXT NOT NULL,
            actor_role        TEXT NOT NULL,
            actor_uid         BIGINT CHECK (actor_uid BETWEEN 0 AND 4294967295),
            actor_gid         BIGINT CHECK (actor_gid BETWEEN 0 AND 4294967295),
            actor_pid         BIGINT CHECK (actor_pid BETWEEN -2147483648 AND 2147483647),
            session_id        TEXT,
            action            TEXT NOT NULL,
            target_connection TEXT,
            target_project    TEXT,
            target_kind       TEXT,
            target_version    BIGINT,
            outcome           TEXT NOT NULL CHECK (outcome IN ('granted', 'denied', 'failed')),
            reason            TEXT,
            request_id        TEXT,
            prev_hash         BYTEA NOT NULL UNIQUE CHECK (length(prev_hash) = 32),
            row_hash          BYTEA NOT NULL CHECK (length(row_hash) = 32),
            client_request_id TEXT
        )
        """,
        """
        CREATE TABLE audit_checkpoint (
            id         BIGINT PRIMARY KEY CHECK (id >= 1),
            audit_seq  BIGINT NOT NULL,
            head_hash  BYTEA NOT NULL CHECK (length(head_hash) = 32),
            time       TEXT NOT NULL,
            public_key BYTEA NOT NULL CHECK (length(public_key) = 32),
            signature  BYTEA NOT NULL CHECK (length(signature) = 64),
            prev_hash  BYTEA UNIQUE CHECK (prev_hash IS NULL OR length(prev_hash) = 32)
        )
        """,
        """
        CREATE TABLE ssh_certificate_serial (
            connection_id BIGINT PRIMARY KEY REFERENCES connection(id) ON DELETE CASCADE,
            last_serial   BIGINT NOT NULL CHECK (last_serial >= 1)
        )
        """,
        """
        CREATE TABLE connection_certificate_settings (
            connection_id   BIGINT PRIMARY KEY REFERENCES connection(id) ON DELETE CASCADE,
            principals      TEXT NOT NULL DEFAULT '[]',
            extensions      TEXT NOT NULL DEFAULT '[]',
            key_id_username TEXT,
            binding_mac     BYTEA CHECK (binding_mac IS NULL OR length(binding_mac) = 32)
        )
        """,
        """
        CREATE TABLE scm_deploy_key (
            project         TEXT NOT NULL,
            version         BIGINT NOT NULL CHECK (version >= 1),
            repo            TEXT NOT NULL,
            connection      TEXT NOT NULL,
            state           TEXT NOT NULL CHECK (state IN ('installed', 'removing', 'removed')),
            server_key_id   TEXT NOT NULL,
            attempts        BIGINT NOT NULL DEFAULT 0 CHECK (attempts >= 0),
            next_attempt_at TEXT,
            last_error      TEXT,
            updated_at      TEXT NOT NULL,
            binding_mac     BYTEA CHECK (binding_mac IS NULL OR length(binding_mac) = 32),
            PRIMARY KEY (project, version)
        )
        """,
        """
        CREATE TABLE minted_token (
            owner           TEXT PRIMARY KEY NOT NULL CHECK (owner LIKE 'minted:%'),
            session_id      TEXT NOT NULL,
            state           TEXT NOT NULL CHECK (state IN ('minting', 'live', 'revoking', 'revoked')),
            intent          TEXT NOT NULL DEFAULT '{}',
            attempts        BIGINT NOT NULL DEFAULT 0 CHECK (attempts >= 0),
            next_attempt_at TEXT,
            last_error      TEXT,
            created_at      TEXT NOT NULL,
            updated_at      TEXT NOT NULL
        )
        """,
        "CREATE INDEX minted_token_by_state ON minted_token(state, session_id)",
        """
        CREATE TABLE secret_version (
            id             BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            kind           TEXT NOT NULL CHECK (kind IN ('deploy-key', 'token', 'oauth-client', 'subkey', 'ssh-ca', 'github-app', 'minted-token', 'webhook-secret')),
            owner          TEXT NOT NULL,
            project_id     BIGINT REFERENCES project(id) ON DELETE CASCADE,
            connection_id  BIGINT REFERENCES connection(id) ON DELETE CASCADE,
            version        BIGINT NOT NULL CHECK (version >= 1),
            state          TEXT NOT NULL CHECK (state IN ('active', 'retiring', 'revoked')),
            retire_at      TEXT,
            revoked_at     TEXT,
            created_at     TEXT NOT NULL,
            attributes     TEXT NOT NULL DEFAULT '{}',
            sealed_payload BYTEA NOT NULL,
            wrapped_dek    BYTEA NOT NULL,
            generation     BIGINT NOT NULL REFERENCES key_generation(generation),
            binding_mac    BYTEA CHECK (binding_mac IS NULL OR length(binding_mac) = 32),
            UNIQUE (kind, owner, version),
            CHECK (state != 'retiring' OR retire_at IS NOT NULL)
        )
        """,
        "CREATE INDEX secret_version_by_generation ON secret_version(generation)",
        """
        CREATE TABLE scm_webhook (
            project         TEXT PRIMARY KEY NOT NULL REFERENCES project(name) ON DELETE RESTRICT,
            connection      TEXT NOT NULL,
            repo            TEXT NOT NULL,
            url             TEXT NOT NULL,
            events          TEXT NOT NULL,
            state           TEXT NOT NULL CHECK (state IN ('installing', 'installed', 'updating', 'removing')),
            server_hook_id  TEXT,
            pending_version BIGINT CHECK (pending_version IS NULL OR pending_version >= 1),
            last_error      TEXT,
            created_at      TEXT NOT NULL,
            updated_at      TEXT NOT NULL,
            binding_mac     BYTEA NOT NULL CHECK (length(binding_mac) = 32),
            CHECK (state = 'installing' OR server_hook_id IS NOT NULL),
            CHECK ((state = 'updating') = (pending_version IS NOT NULL))
        )
        """,
        """
        CREATE TABLE token_verification (
            secret_version_id BIGINT PRIMARY KEY REFERENCES secret_version(id) ON DELETE CASCADE,
            checked_at  TEXT NOT NULL,
            state       TEXT NOT NULL CHECK (state IN ('ok', 'missing-scopes', 'rejected', 'unreachable', 'failed')),
            "user"      TEXT,
            scopes      TEXT,
            expires_at  TEXT,
            missing     TEXT NOT NULL DEFAULT '[]',
            message     TEXT,
            binding_mac BYTEA NOT NULL CHECK (length(binding_mac) = 32)
        )
        """,
        // Append-only, for every role (the owner's psql included): UPDATE, DELETE and
        // TRUNCATE are refused by statement triggers (they fire even when no row matches),
        // and so is any INSERT whose key is not exactly max + 1. The functions name their
        // tables by schema and fix their search_path, so a session's temporary table called
        // `audit` cannot stand in for the real one.
        """
        CREATE FUNCTION latchkey_refuse_audit_change() RETURNS trigger LANGUAGE plpgsql
            SET search_path = pg_catalog, public, pg_temp AS $$
        BEGIN
            RAISE EXCEPTION '% rows are append-only: % refused', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'P0001';
        END
        $$
        """,
        """
        CREATE FUNCTION latchkey_audit_next_key_only() RETURNS trigger LANGUAGE plpgsql
            SET search_path = pg_catalog, public, pg_temp AS $$
        BEGIN
            IF TG_TABLE_NAME = 'audit' THEN
                IF NEW.seq IS DISTINCT FROM (SELECT COALESCE(MAX(seq), 0) + 1 FROM public.audit) THEN
                    RAISE EXCEPTION 'audit rows are append-only: seq must be max(seq) + 1' USING ERRCODE = 'P0001';
                END IF;
            ELSE
                IF NEW.id IS DISTINCT FROM (SELECT COALESCE(MAX(id), 0) + 1 FROM public.audit_checkpoint) THEN
                    RAISE EXCEPTION 'audit checkpoints are append-only: id must be max(id) + 1' USING ERRCODE = 'P0001';
                END IF;
            END IF;
            RETURN NEW;
        END
        $$
        """,
        "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit FOR EACH STATEMENT EXECUTE FUNCTION latchkey_refuse_audit_change()",
        "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit FOR EACH STATEMENT EXECUTE FUNCTION latchkey_refuse_audit_change()",
        "CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit FOR EACH STATEMENT EXECUTE FUNCTION latchkey_refuse_audit_change()",
        "CREATE TRIGGER audit_next_seq_only BEFORE INSERT ON audit FOR EACH ROW EXECUTE FUNCTION latchkey_audit_next_key_only()",
        """
        CREATE TRIGGER audit_checkpoint_no_update BEFORE UPDATE ON audit_checkpoint
            FOR EACH STATEMENT EXECUTE FUNCTION latchkey_refuse_audit_change()
        """,
        """
        CREATE TRIGGER audit_checkpoint_no_delete BEFORE DELETE ON audit_checkpoint
            FOR EACH STATEMENT EXECUTE FUNCTION latchkey_refuse_audit_change()
        """,
        """
        CREATE TRIGGER audit_checkpoint_no_truncate BEFORE TRUNCATE ON audit_checkpoint
            FOR EACH STATEMENT EXECUTE FUNCTION latchkey_refuse_audit_change()
        """,
        """
        CREATE TRIGGER audit_checkpoint_next_only BEFORE INSERT ON audit_checkpoint
            FOR EACH ROW EXECUTE FUNCTION latchkey_audit_next_key_only()
        """,
    ]

    /// Store schema 13: the session's and the audit row's host, and the `changes` feed. Triggers write a row for
    /// each event another daemon must act on — a session ended (by `session revoke` on any
    /// host, or by its own daemon), a project or connection removed, a secret version's
    /// state changed (revoked, retiring), a key generation added (master-key rotation) —
    /// in the transaction that made it, and notify `latchkey_changes` (delivered at
    /// commit; best-effort, lost through poolers). The daemons poll the table; the
    /// notification only makes the poll come early.
    static let schema13: [String] = [
        "ALTER TABLE session ADD COLUMN host TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE audit ADD COLUMN host TEXT",
        "CREATE INDEX session_open_by_host ON session(host) WHERE ended_at IS NULL",
        """
        CREATE TABLE changes (
            id    BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            time  TEXT NOT NULL,
            what  TEXT NOT NULL CHECK (what IN ('session', 'project', 'connection', 'secret-version', 'key-generation')),
            ref   TEXT NOT NULL
        )
        """,
        """
        CREATE FUNCTION latchkey_note_change() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            ref TEXT;
        BEGIN
            -- One branch per table: each is planned only when it runs (a row of another
            -- table has none of its fields).
            IF TG_ARGV[0] = 'session' THEN
                ref := NEW.id;
            ELSIF TG_ARGV[0] IN ('project', 'connection') THEN
                ref := OLD.name;
            ELSIF TG_ARGV[0] = 'secret-version' THEN
                ref := NEW.kind || ' ' || NEW.owner || ' ' || NEW.version;
            ELSE
                ref := NEW.generation::text;
            END IF;
            INSERT INTO changes(time, what, ref)
                VALUES (to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), TG_ARGV[0], ref);
            PERFORM pg_notify('\(changesChannel)', TG_ARGV[0]);
            RETURN NULL;
        END
        $$
        """,
        """
        CREATE TRIGGER session_ended_change AFTER UPDATE OF ended_at ON session
            FOR EACH ROW WHEN (OLD.ended_at IS NULL AND NEW.ended_at IS NOT NULL) EXECUTE FUNCTION latchkey_note_change('session')
        """,
        "CREATE TRIGGER project_removed_change AFTER DELETE ON project FOR EACH ROW EXECUTE FUNCTION latchkey_note_change('project')",
        "CREATE TRIGGER connection_removed_change AFTER DELETE ON connection FOR EACH ROW EXECUTE FUNCTION latchkey_note_change('connection')",
        """
        CREATE TRIGGER secret_version_state_change AFTER UPDATE OF state ON secret_version
            FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION latchkey_note_change('secret-version')
        """,
        "CREATE TRIGGER key_generation_added_change AFTER INSERT ON key_generation FOR EACH ROW EXECUTE FUNCTION latchkey_note_change('key-generation')",
    ]
}
