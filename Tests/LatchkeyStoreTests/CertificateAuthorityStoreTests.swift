import LatchkeyTestSupport
import Foundation
import GRDB
import LatchkeyCrypto
import LatchkeyStore
import Testing

/// A connection's SSH certificate authority is a secret kind of its own: sealed,
/// versioned, rotatable with grace; its serials only ever grow.
@Suite struct CertificateAuthorityStoreTests {
    struct Opened {
        let dir: String
        let store: Store
        let ring: KeyRing
        let connectionID: Int64
    }

    func open() throws -> Opened {
        let dir = makeTempDirectory("ca")
        let store = try Store(directory: dir, create: true)
        let ring = try KeyRing.initialize(store: store, source: .keyFile(path: dir + "/master.key"))
        let id = try store.database.write { db in
            try Connection.insert(Connection(name: "ghe", kind: .githubEnterprise, webURL: "https://ghe.example", apiURL: nil, sshURL: nil), in: db)
            return try Connection.find("ghe", in: db).id
        }
        return Opened(dir: dir, store: store, ring: ring, connectionID: id)
    }

    func secret(_ text: String) throws -> SecretBytes {
        var b = Array(text.utf8)
        return try SecretBytes(consuming: &b)
    }

    @Test func certificateAuthorityIsASealedVersionedSecretThatRotatesWithGrace() throws {
        let o = try open()
        let marker = "CA-PRIVATE-\(UUID().uuidString)"
        let (v1, v2) = try o.store.database.write { db in
            let v1 = try SecretVersions.add(
                kind: .certificateAuthority, owner: "connection:ghe", connectionID: o.connectionID, grace: .seconds(3600), keyRing: o.ring, in: db
            ) { _ in (try self.secret(marker + "-1"), ["type": "ed25519"]) }
            let v2 = try SecretVersions.add(
                kind: .certificateAuthority, owner: "connection:ghe", connectionID: o.connectionID, grace: .seconds(3600), keyRing: o.ring, in: db
            ) { _ in (try self.secret(marker + "-2"), ["type": "ed25519"]) }
            return (v1, v2)
        }
        #expect(v1.version == 1 && v2.version == 2)
        let versions = try o.store.database.read { db in try SecretVersions.list(kind: .certificateAuthority, owner: "connection:ghe", in: db) }
        #expect(versions.map(\.state) == [.retiring, .active])
        let opened = try o.store.database.read { db in
            try #require(try SecretVersions.sealed(kind: .certificateAuthority, owner: "connection:ghe", version: 2, in: db))
        }
        let payload = try o.ring.open(opened, for: v2.binding)
        #expect(payload.constantTimeEquals(Array((marker + "-2").utf8)))
        // Sealed under its own kind: the same bytes do not open as another kind's record.
        #expect(throws: (any Error).self) { try o.ring.open(opened, for: RecordBinding(kind: "token", id: "connection:ghe", version: 2)) }
        // Nothing in clear on disk.
        #expect(sqlite(o.store.path, "PRAGMA wal_checkpoint(FULL)").status == 0)
        #expect(runCaptured(["grep", "-r", "-l", "-F", marker, o.dir]).status == 1)
    }

    @Test func rebuiltSecretTableStillRefusesUnknownKindsFromAnyConnection() throws {
        let o = try open()
        let bad = sqlite(o.store.path, """
            INSERT INTO secret_version(kind, owner, version, state, created_at, sealed_payload, wrapped_dek, generation)
            VALUES ('bogus', 'connection:ghe', 1, 'active', 'x', X'', X'', 1)
            """)
        #expect(bad.status != 0 && bad.output.contains("CHECK constraint failed"))
        let indexes = sqlite(o.store.path, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'secret_version'").output
        #expect(indexes.contains("secret_version_by_generation"))
    }

    /// A store written by the first schema, with a deploy key version in it, migrates
    /// without losing the row, its index or its constraints.
    @Test func storeFromTheFirstSchemaMigratesWithItsRows() throws {
        let o = try open()
        try o.store.database.write { db in
            try db.execute(sql: "INSERT INTO project(name, connection_id, repo, created_at) VALUES ('web', ?, 'acme/web', 'x')", arguments: [o.connectionID])
            _ = try SecretVersions.add(kind: .token, owner: "connection:ghe", connectionID: o.connectionID, grace: .zero, keyRing: o.ring, in: db) { _ in
                (try self.secret("ghp_old"), ["username": "ci"])
            }
        }
        // Back to the first schema's table definition, as a store of the previous release has it.
        let dump = sqlite(o.store.path, "SELECT sql FROM sqlite_master WHERE name = 'secret_version'").output
        #expect(dump.contains("'ssh-ca'"))
        let older = makeTempDirectory("ca-old")
        let oldStore = try Store(directory: older, create: true)
        _ = try KeyRing.initialize(store: oldStore, source: .keyFile(path: older + "/master.key"))
        try oldStore.sqlite!.pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA foreign_keys = OFF")
            try db.inTransaction {
                try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier != 'v1'")
                try db.execute(sql: "DROP TABLE connection_certificate_settings")
                try db.execute(sql: "DROP TABLE ssh_certificate_serial")
                // What the store's own later migrations added (audit ranges, the checkpoint chain, row bindings).
                try db.execute(sql: "DROP TRIGGER audit_actor_in_range; DROP TRIGGER session_runner_uid_in_range")
                try db.execute(sql: "ALTER TABLE audit_checkpoint DROP COLUMN prev_hash")
                try db.execute(sql: "ALTER TABLE project DROP COLUMN binding_mac; ALTER TABLE connection DROP COLUMN binding_mac")
                // …what token verification and the SCM columns' bindings added…
                try db.execute(sql: "DROP TABLE token_verification")
                try db.execute(sql: "ALTER TABLE connection DROP COLUMN scm_binding_mac; ALTER TABLE project DROP COLUMN scm_binding_mac")
                // …and what the SCM migration added.
                try db.execute(sql: "DROP TABLE scm_deploy_key")
                // …and the webhooks' (its kind is gone with the table rebuilt below).
                try db.execute(sql: "DROP TABLE scm_webhook")
                try db.execute(sql: "ALTER TABLE connection DROP COLUMN ca_file")
                try db.execute(sql: "ALTER TABLE project DROP COLUMN install_deploy_key")
                try db.execute(sql: "ALTER TABLE project DROP COLUMN deploy_key_write")
                try db.execute(sql: "ALTER TABLE audit DROP COLUMN client_request_id")
                // …and the minted-token queue (the kinds go with the table rebuild below).
                try db.execute(sql: "DROP TABLE minted_token")
                // …and the fleet's session host and changes feed.
                try db.execute(sql: "DROP INDEX session_open_by_host; ALTER TABLE session DROP COLUMN host; DROP TABLE changes")
                try db.execute(sql: "ALTER TABLE audit DROP COLUMN host")
                try db.execute(sql: "ALTER TABLE secret_version RENAME TO secret_version_current")
                try db.execute(sql: """
                    CREATE TABLE secret_version (
                        id INTEGER PRIMARY KEY,
                        kind TEXT NOT NULL CHECK (kind IN ('deploy-key', 'token', 'oauth-client', 'subkey')),
                        owner TEXT NOT NULL, project_id INTEGER REFERENCES project(id) ON DELETE CASCADE,
                        connection_id INTEGER REFERENCES connection(id) ON DELETE CASCADE,
                        version INTEGER NOT NULL CHECK (version >= 1),
                        state TEXT NOT NULL CHECK (state IN ('active', 'retiring', 'revoked')),
                        retire_at TEXT, revoked_at TEXT, created_at TEXT NOT NULL, attributes TEXT NOT NULL DEFAULT '{}',
                        sealed_payload BLOB NOT NULL, wrapped_dek BLOB NOT NULL,
                        generation INTEGER NOT NULL REFERENCES key_generation(generation),
                        UNIQUE (kind, owner, version), CHECK (state != 'retiring' OR retire_at IS NOT NULL)
                    ) STRICT
                    """)
                try db.execute(sql: "DROP TABLE secret_version_current")
                try db.execute(sql: "CREATE INDEX secret_version_by_generation ON secret_version(generation)")
                try db.execute(sql: "INSERT INTO secret_version(kind, owner, version, state, created_at, sealed_payload, wrapped_dek, generation) VALUES ('deploy-key', 'project:x', 1, 'active', 'x', X'01', X'02', 1)")
                try db.execute(sql: "UPDATE metadata SET value = '1' WHERE key = 'schema_version'")
                return .commit
            }
        }
        try oldStore.sqlite!.close()
        let migrated = try Store(directory: older, create: false)
        let rows = try migrated.database.read { db in try SQLRow.fetchAll(db, sql: "SELECT kind, owner, sealed_payload FROM secret_version WHERE kind != 'subkey'") }
        #expect(rows.count == 1 && rows.first?["kind"] == "deploy-key" && (rows.first?["sealed_payload"] as Data?) == Data([1]))
        let sql = sqlite(migrated.path, "SELECT sql FROM sqlite_master WHERE tbl_name = 'secret_version'").output
        #expect(sql.contains("'ssh-ca', 'github-app', 'minted-token'") && sql.contains("'webhook-secret'") && sql.contains("secret_version_by_generation") && sql.contains("UNIQUE (kind, owner, version)"))
        #expect(try migrated.metadata("schema_version") == "13")  // v1 + the certificate, store, SCM, client-request-id, minted-token, webhook, token-verification and SCM-binding migrations
    }

    @Test func serialsIncreaseAndAreNeverReusedAcrossReopen() throws {
        let o = try open()
        let first = try o.store.database.write { db in
            try (1...3).map { _ in try CertificateSerials.reserve(connectionID: o.connectionID, in: db) }
        }
        #expect(first == [1, 2, 3])
        // A reservation whose transaction rolls back hands the number out again (it was never issued).
        struct Abort: Error {}
        _ = try? o.store.database.write { db -> Void in
            _ = try CertificateSerials.reserve(connectionID: o.connectionID, in: db)
            throw Abort()
        }
        try o.store.sqlite!.close()
        let reopened = try Store(directory: o.dir, create: false)
        let next = try reopened.database.write { db in try CertificateSerials.reserve(connectionID: o.connectionID, in: db) }
        #expect(next == 4)
        #expect(try reopened.database.read { db in try CertificateSerials.last(connectionID: o.connectionID, in: db) } == 4)
        // A lowered counter is refused by the schema's check only below 1; the daemon never lowers it.
        #expect(sqlite(reopened.path, "UPDATE ssh_certificate_serial SET last_serial = 0").status != 0)
    }

    /// A store writer who changes what a certificate logs in as, or moves the settings to
    /// another connection, gets the row refused, never acted on.
    @Test func settingsAStoreWriterChangedAreRefused() throws {
        let o = try open()
        try o.store.database.write { db in
            try Connection.insert(Connection(name: "other", kind: .gitlab, webURL: "https://gl.example", apiURL: nil, sshURL: nil), in: db)
            try CertificateSettings.save(CertificateSettings(principals: ["git"]), connectionID: o.connectionID, in: db)
        }
        let otherID = try o.store.database.read { db in try Connection.find("other", in: db).id }
        #expect(sqlite(o.store.path, "UPDATE connection_certificate_settings SET principals = '[\"root\"]'").status == 0)
        #expect {
            try o.store.database.read { db in try CertificateSettings.find(connectionID: o.connectionID, in: db) }
        } throws: { ($0 as? StoreError)?.code == "binding_failed" }
        // Put back as it was, then moved to the other connection: refused there too.
        #expect(sqlite(o.store.path, "UPDATE connection_certificate_settings SET principals = '[\"git\"]'").status == 0)
        #expect(try o.store.database.read { db in try CertificateSettings.find(connectionID: o.connectionID, in: db) }.principals == ["git"])
        #expect(sqlite(o.store.path, "UPDATE connection_certificate_settings SET connection_id = \(otherID)").status == 0)
        #expect {
            try o.store.database.read { db in try CertificateSettings.find(connectionID: otherID, in: db) }
        } throws: { ($0 as? StoreError)?.code == "binding_failed" }
    }

    @Test func settingsRoundTripAndGoWithTheirConnection() throws {
        let o = try open()
        let settings = CertificateSettings(principals: ["git", "deploy"], extensions: ["login@ghe.example=ci-bot", "permit-pty"], keyIDUsername: "ci-bot")
        try o.store.database.write { db in
            #expect(try CertificateSettings.find(connectionID: o.connectionID, in: db) == CertificateSettings())
            try CertificateSettings.save(settings, connectionID: o.connectionID, in: db)
            _ = try CertificateSerials.reserve(connectionID: o.connectionID, in: db)
            _ = try SecretVersions.add(
                kind: .certificateAuthority, owner: "connection:ghe", connectionID: o.connectionID, grace: .zero, keyRing: o.ring, in: db
            ) { _ in (try self.secret("ca"), [:]) }
        }
        #expect(try o.store.database.read { db in try CertificateSettings.find(connectionID: o.connectionID, in: db) } == settings)
        try o.store.database.write { db in try Connection.remove("ghe", in: db) }
        for table in ["connection_certificate_settings", "ssh_certificate_serial"] {
            #expect(sqlite(o.store.path, "SELECT COUNT(*) FROM \(table)").output.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        }
        #expect(sqlite(o.store.path, "SELECT COUNT(*) FROM secret_version WHERE kind = 'ssh-ca'").output.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
    }
}
