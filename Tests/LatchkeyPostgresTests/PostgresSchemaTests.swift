import Foundation
import LatchkeyCrypto
import LatchkeyPostgres
@testable import LatchkeyStore
import LatchkeyTestSupport
import Testing

/// PostgreSQL's migrations against a real server: the same schema as SQLite's at the same
/// version, applied once, never downgraded, and the audit tables append-only twice over —
/// by triggers for every role, and by the daemon role's grants (tried through psql).
@Suite(.enabled(if: PostgresServer.testsEnabled, Comment(rawValue: PostgresServer.skipMessage)))
struct PostgresSchemaTests {
    /// A fresh database migrated by the owner role, with the daemon's GRANTs applied.
    private func migrated(_ server: PostgresServer) throws -> (name: String, owner: PostgresDatabase) {
        let name = try server.createDatabase()
        let owner = try openPostgres(server, role: PostgresServer.ownerRole, database: name)
        try PostgresSchema.migrate(owner)
        try owner.write { db in
            for g in PostgresSchema.grantStatements(daemonRole: PostgresServer.daemonRole, database: name) { try db.execute(sql: g) }
        }
        return (name, owner)
    }

    private static let zeros = "decode(repeat('00', 32), 'hex')"
    private static func auditRow(seq: Int, prevByte: String = "00") -> String {
        """
        INSERT INTO audit(seq, time, actor_role, action, outcome, prev_hash, row_hash)
        VALUES (\(seq), '2026-12-02T05:00:00.000000Z', 'admin', 'token.put', 'granted',
                decode(repeat('\(prevByte)', 32), 'hex'), decode(repeat('ab', 32), 'hex'));
        """
    }

    @Test func theMigrationsReachTheSQLiteSchemaVersion() {
        #expect(PostgresSchema.storeVersion == Schema.currentVersion)
        #expect(PostgresSchema.migrations.map(\.number) == Array(1...PostgresSchema.migrations.count))
        #expect(Set(PostgresSchema.migrations.map(\.name)).count == PostgresSchema.migrations.count)
    }

    @Test func migrationsApplyFromEmptyAndReapplyingIsANoOp() throws {
        let server = try PostgresServer.shared()
        let name = try server.createDatabase()
        let owner = try openPostgres(server, role: PostgresServer.ownerRole, database: name)
        #expect(try PostgresSchema.migrate(owner) == PostgresSchema.migrations.count)
        #expect(try PostgresSchema.migrate(owner) == 0)
        let (version, applied) = try owner.read { db in
            (try String.fetchOne(db, sql: "SELECT value FROM metadata WHERE key = 'schema_version'"),
             try String.fetchAll(db, sql: "SELECT name FROM schema_migrations ORDER BY number"))
        }
        #expect(version == String(Schema.currentVersion))
        #expect(applied == PostgresSchema.migrations.map(\.name))
        // The daemon's role, granted, finds the schema current and cannot migrate.
        try owner.write { db in
            for g in PostgresSchema.grantStatements(daemonRole: PostgresServer.daemonRole, database: name) { try db.execute(sql: g) }
        }
        let daemon = try openPostgres(server, database: name)
        try PostgresSchema.check(daemon)
        #expect(throws: StoreError.self) { try PostgresSchema.migrate(try openPostgres(server, database: try server.createDatabase())) }
    }

    /// Two `latchkey init` runs (or two upgraded daemons' owners) at once: the advisory lock
    /// makes one wait, and it then finds the migrations applied.
    @Test func concurrentMigratorsApplyEachMigrationOnce() throws {
        let server = try PostgresServer.shared()
        let name = try server.createDatabase()
        let migrators = try (0..<3).map { _ in try openPostgres(server, role: PostgresServer.ownerRole, database: name) }
        let ran = Counter()
        let failures = Counter()
        let group = DispatchGroup()
        for m in migrators {
            group.enter()
            Thread.detachNewThread {
                do { _ = ran.add(try PostgresSchema.migrate(m)) } catch { _ = failures.increment() }
                group.leave()
            }
        }
        group.wait()
        #expect(failures.value == 0)
        #expect(ran.value == PostgresSchema.migrations.count)
        let applied = try migrators[0].read { db in try Int64.fetchOne(db, sql: "SELECT count(*) FROM schema_migrations") }
        #expect(applied == Int64(PostgresSchema.migrations.count))
    }

    /// The two entry points `latchkey init|serve --database` use: the owner migrates, the
    /// daemon finds the schema current; each from the URL and a password file.
    @Test func theOwnerMigratesAndTheDaemonOpensFromTheURL() throws {
        let server = try PostgresServer.shared()
        let name = try server.createDatabase()
        let ownerURL = server.url(role: PostgresServer.ownerRole, database: name)
        let (owner, ran) = try PostgresDatabase.openAndMigrate(url: ownerURL, passwordFile: try server.passwordFile(role: PostgresServer.ownerRole), environment: [:])
        #expect(ran == PostgresSchema.migrations.count)
        try owner.write { db in
            for g in PostgresSchema.grantStatements(daemonRole: PostgresServer.daemonRole, database: name) { try db.execute(sql: g) }
        }
        #expect(try PostgresDatabase.openAndMigrate(url: ownerURL, passwordFile: try server.passwordFile(role: PostgresServer.ownerRole), environment: [:]).migrationsRun == 0)
        let daemon = try PostgresDatabase.openForDaemon(
            url: server.url(database: name), passwordFile: nil, environment: ["PGPASSFILE": try server.passfile()])
        #expect(try daemon.read { db in try String.fetchOne(db, sql: "SELECT value FROM metadata WHERE key = 'schema_version'") } == String(Schema.currentVersion))
        // A password in the URL never gets as far as the server.
        #expect(throws: PostgresLocationError.passwordInURL) {
            try PostgresDatabase.openForDaemon(url: "postgresql://latchkey_daemon:pw@127.0.0.1:\(server.port)/\(name)", passwordFile: nil, environment: [:])
        }
    }

    @Test func anEmptyDatabaseIsNotAStoreForTheDaemon() throws {
        let server = try PostgresServer.shared()
        let daemon = try openPostgres(server, database: try server.createDatabase())
        #expect(throws: StoreError.self) { try PostgresSchema.check(daemon) }
    }

    @Test func aNewerSchemaIsRefusedNeverDowngraded() throws {
        let server = try PostgresServer.shared()
        let (name, owner) = try migrated(server)
        try owner.write { db in try db.execute(sql: "UPDATE metadata SET value = '99' WHERE key = 'schema_version'") }
        #expect { try PostgresSchema.migrate(owner) } throws: { e in
            if case .newerSchema(_, let found, let supported) = e as? StoreError { return found == 99 && supported == Schema.currentVersion }
            return false
        }
        #expect(throws: StoreError.self) { try PostgresSchema.check(try openPostgres(server, database: name)) }
        // A migration this build does not know (written by a newer latchkey).
        try owner.write { db in
            try db.execute(sql: "UPDATE metadata SET value = ? WHERE key = 'schema_version'", arguments: [String(Schema.currentVersion)])
            try db.execute(sql: "INSERT INTO schema_migrations VALUES (?, 'from-a-newer-latchkey', '2027-01-01T00:00:00Z')", arguments: [Int64(PostgresSchema.migrations.count + 1)])
        }
        #expect { try PostgresSchema.migrate(owner) } throws: { e in
            if case .newerSchema = e as? StoreError { return true }
            return false
        }
        let v = try owner.read { db in try String.fetchOne(db, sql: "SELECT value FROM metadata WHERE key = 'schema_version'") }
        #expect(v == String(Schema.currentVersion))
    }

    /// Every table and column of SQLite's schema is in PostgreSQL's, in the same order, with
    /// the mapped type and the same NOT NULL; and the same named indexes.
    @Test func theSameTablesColumnsAndIndexesAsSQLite() throws {
        let parent = makeTempDirectory("pg-vs-sqlite")
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let dir = parent + "/data"
        _ = try Store(directory: dir, create: true)
        let file = dir + "/" + DataDirectory.databaseName
        let listing = sqlite(
            file,
            """
            SELECT m.name || '|' || p.name || '|' || p.type || '|' || p."notnull"
            FROM sqlite_master m, pragma_table_info(m.name) p
            WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE 'grdb_%'
            ORDER BY m.name, p.cid
            """)
        #expect(listing.status == 0)
        let typeMap = ["INTEGER": "bigint", "TEXT": "text", "BLOB": "bytea", "REAL": "double precision"]
        let fromSQLite = listing.output.split(separator: "\n").map { line -> String in
            let f = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            // A primary key column is NOT NULL on PostgreSQL whatever SQLite reports.
            return [f[0], f[1], typeMap[f[2]] ?? "?\(f[2])", f[3]].joined(separator: "|")
        }
        let server = try PostgresServer.shared()
        let (_, owner) = try migrated(server)
        let (fromPostgres, primaryKeys, pgIndexes) = try owner.read { db in
            (
                try String.fetchAll(
                    db,
                    sql: """
                        SELECT table_name || '|' || column_name || '|' || data_type || '|' || CASE is_nullable WHEN 'NO' THEN '1' ELSE '0' END
                        FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> 'schema_migrations'
                        ORDER BY table_name, ordinal_position
                        """),
                try String.fetchAll(
                    db,
                    sql: """
                        SELECT tc.table_name || '|' || kcu.column_name FROM information_schema.table_constraints tc
                        JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = tc.constraint_name AND kcu.table_schema = tc.table_schema
                        WHERE tc.table_schema = 'public' AND tc.constraint_type = 'PRIMARY KEY'
                        """),
                try String.fetchAll(db, sql: "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
            )
        }
        let pk = Set(primaryKeys)
        let normalisedSQLite = fromSQLite.map { line -> String in
            let f = line.split(separator: "|").map(String.init)
            return pk.contains(f[0] + "|" + f[1]) ? [f[0], f[1], f[2], "1"].joined(separator: "|") : line
        }
        // Both listings are ordered by table name (bytewise on both: the cluster has no
        // locale) and then by column position.
        #expect(normalisedSQLite == fromPostgres)
        // Every table is either append-only or the daemon's to change (the GRANT lists).
        let tables = Set(fromPostgres.map { String($0.split(separator: "|")[0]) })
        #expect(tables == Set(PostgresSchema.appendOnlyTables + PostgresSchema.daemonTables))
        let sqliteIndexes = sqlite(file, "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL").output
            .split(separator: "\n").map(String.init)
        #expect(!sqliteIndexes.isEmpty)
        for index in sqliteIndexes { #expect(pgIndexes.contains(index), "index \(index)") }
    }

    @Test func theDaemonRoleCannotUpdateDeleteOrTruncateAuditRowsThroughPsql() throws {
        let server = try PostgresServer.shared()
        let (name, _) = try migrated(server)
        let daemon = PostgresServer.daemonRole
        // What the daemon may do: append and read.
        let insert = try server.psql(as: daemon, database: name, Self.auditRow(seq: 1))
        #expect(insert.status == 0, "\(insert.err)")
        #expect(try server.psql(as: daemon, database: name, "SELECT count(*) FROM audit;").out.trimmingCharacters(in: .whitespacesAndNewlines) == "1")
        let checkpoint = """
            INSERT INTO audit_checkpoint(id, audit_seq, head_hash, time, public_key, signature)
            VALUES (1, 1, \(Self.zeros), '2026-12-02T05:00:00Z', \(Self.zeros), decode(repeat('00', 64), 'hex'));
            """
        #expect(try server.psql(as: daemon, database: name, checkpoint).status == 0)
        // What it may not: every way of changing history, each refused by the grants.
        for attack in [
            "UPDATE audit SET outcome = 'denied' WHERE seq = 1;", "DELETE FROM audit WHERE seq = 1;", "TRUNCATE audit;",
            "DELETE FROM audit;", "UPDATE audit_checkpoint SET audit_seq = 0;", "DELETE FROM audit_checkpoint;", "TRUNCATE audit_checkpoint;",
            "INSERT INTO audit(seq, time, actor_role, action, outcome, prev_hash, row_hash) SELECT 2, time, actor_role, action, outcome, decode(repeat('01', 32), 'hex'), row_hash FROM audit ON CONFLICT (seq) DO UPDATE SET outcome = 'denied';",
            "ALTER TABLE audit DISABLE TRIGGER audit_no_update;", "DROP TRIGGER audit_no_delete ON audit;", "DROP TABLE audit;",
            "CREATE TABLE audit_copy (x BIGINT);", "CREATE TEMP TABLE audit (seq BIGINT);", "ALTER TABLE audit DROP CONSTRAINT audit_prev_hash_key;",
        ] {
            let r = try server.psql(as: daemon, database: name, attack)
            #expect(r.status != 0, "the daemon role could run: \(attack)")
            #expect(r.err.contains("permission denied") || r.err.contains("must be owner"), "\(attack): \(r.err)")
        }
        let after = try server.psql(as: daemon, database: name, "SELECT seq || ':' || outcome FROM audit; SELECT count(*) FROM audit_checkpoint;")
        #expect(after.out.split(separator: "\n") == ["1:granted", "1"])
    }

    @Test func theTriggersRefuseChangingHistoryEvenForTheOwner() throws {
        let server = try PostgresServer.shared()
        let (name, owner) = try migrated(server)
        let role = PostgresServer.ownerRole
        #expect(try server.psql(as: role, database: name, Self.auditRow(seq: 1)).status == 0)
        for (attack, words) in [
            ("UPDATE audit SET outcome = 'denied';", "UPDATE refused"), ("DELETE FROM audit;", "DELETE refused"),
            ("TRUNCATE audit;", "TRUNCATE refused"), ("DELETE FROM audit WHERE false;", "DELETE refused"),
            ("UPDATE audit_checkpoint SET id = 2;", "UPDATE refused"), ("TRUNCATE audit_checkpoint;", "TRUNCATE refused"),
            (Self.auditRow(seq: 3, prevByte: "02"), "max(seq) + 1"),
        ] {
            let r = try server.psql(as: role, database: name, attack)
            #expect(r.status != 0, "the owner could run: \(attack)")
            #expect(r.err.contains(words), "\(attack): \(r.err)")
        }
        // Through PostgresDatabase the refusals are constraint errors, like SQLite's RAISE.
        let e = #expect(throws: SQLError.self) { try owner.write { db in try db.execute(sql: "DELETE FROM audit") } }
        #expect(e?.kind == .constraint)
        #expect(e?.message.contains("P0001") == true)
        // No fork: a second row claiming the same predecessor is refused even at max + 1.
        let fork = #expect(throws: SQLError.self) {
            try owner.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO audit(seq, time, actor_role, action, outcome, prev_hash, row_hash)
                        VALUES (2, 't', 'admin', 'x', 'granted', ?, ?)
                        """, arguments: [Data(repeating: 0, count: 32), Data(repeating: 1, count: 32)])
            }
        }
        #expect(fork?.kind == .constraint)
        // The actor's ids stay in the ranges the audit encoding writes.
        let range = #expect(throws: SQLError.self) {
            try owner.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO audit(seq, time, actor_role, actor_uid, action, outcome, prev_hash, row_hash)
                        VALUES (2, 't', 'admin', ?, 'x', 'granted', ?, ?)
                        """, arguments: [Int64(1) << 32, Data(repeating: 2, count: 32), Data(repeating: 1, count: 32)])
            }
        }
        #expect(range?.kind == .constraint)
    }

    /// The README shows the grants `--print-grants` prints; they must be these.
    /// What another daemon must act on reaches the `changes` feed in the transaction that
    /// did it, through psql as the daemon role too; what it need not (a use counted, a row
    /// updated to the same state) does not. The daemon role may prune the feed.
    @Test func theChangeTriggersFeedRevocationsRemovalsAndSessionEnds() throws {
        let server = try PostgresServer.shared()
        let (name, _) = try migrated(server)
        let r = try server.psql(as: PostgresServer.daemonRole, database: name, """
            INSERT INTO connection(id, name, kind, web_url, api_url, ssh_url, created_at)
                VALUES (1, 'ghe', 'gitlab', 'https://gl.example.com', 'https://gl.example.com/api/v4', 'ssh://git@gl.example.com', 'x');
            INSERT INTO project(id, name, connection_id, repo, created_at) VALUES (1, 'web', 1, 'acme/web', 'x');
            INSERT INTO key_generation(generation, wrapped_kek, created_at) VALUES (1, '\\x00', 'x');
            INSERT INTO secret_version(kind, owner, version, state, created_at, sealed_payload, wrapped_dek, generation)
                VALUES ('token', 'connection:ghe', 1, 'active', 'x', '\\x00', '\\x00', 1);
            INSERT INTO session(id, token_hash, project, build_id, runner_uid, grants, max_uses, created_at, expires_at, host)
                VALUES ('s1', '\\x01', 'web', 'b', 1000, 'token', 10, 'x', 'y', 'host-a');
            UPDATE session SET uses = 3 WHERE id = 's1';
            UPDATE secret_version SET state = 'active';
            UPDATE secret_version SET state = 'revoked', revoked_at = 'z';
            UPDATE session SET ended_at = 'z', end_reason = 'revoked' WHERE id = 's1';
            DELETE FROM project WHERE name = 'web';
            DELETE FROM connection WHERE name = 'ghe';
            SELECT what || '=' || ref FROM changes ORDER BY id;
            """)
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.split(separator: "\n") == [
            "key-generation=1", "secret-version=token connection:ghe 1", "session=s1", "project=web", "connection=ghe",
        ])
        let pruned = try server.psql(as: PostgresServer.daemonRole, database: name, "DELETE FROM changes; SELECT count(*) FROM changes;")
        #expect(pruned.status == 0 && pruned.out.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "\(pruned.err)")
    }

    @Test func theREADMEShowsTheGrantsAsTheyAre() throws {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        #expect(text.contains(PostgresSchema.grantScript(daemonRole: "latchkey_daemon", database: "latchkey")))
    }

    @Test func grantStatementsGiveTheAuditTablesOnlySelectAndInsert() {
        let grants = PostgresSchema.grantStatements(daemonRole: "ci\"daemon", database: "latchkey")
        #expect(grants.contains("GRANT SELECT, INSERT ON audit, audit_checkpoint TO \"ci\"\"daemon\""))
        for g in grants where g.contains("UPDATE") || g.contains("DELETE") {
            #expect(!g.contains("audit"), "\(g)")
        }
        #expect(!grants.joined().contains("TRUNCATE"))
        // Every table of the schema is covered by exactly one of the lists.
        let all = Set(PostgresSchema.appendOnlyTables + PostgresSchema.daemonTables)
        #expect(all.count == PostgresSchema.appendOnlyTables.count + PostgresSchema.daemonTables.count)
    }
}
