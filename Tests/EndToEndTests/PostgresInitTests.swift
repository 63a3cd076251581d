import Foundation
import LatchkeyTestSupport
import Testing

/// `latchkey init --database postgresql://…` against a real PostgreSQL server, as an
/// operator runs it: as the owner role, with the password in a file, then the daemon role
/// granted what it needs and nothing more.
@Suite(.enabled(if: PostgresServer.testsEnabled, Comment(rawValue: PostgresServer.skipMessage)))
struct PostgresInitTests {
    @Test func initMigratesCreatesTheKeyRingAndGrantsTheDaemonRole() throws {
        let server = try PostgresServer()
        let root = makeTempDirectory("pg-init")
        let ownerURL = server.url(role: PostgresServer.ownerRole)
        let passwordFile = try server.passwordFile(role: PostgresServer.ownerRole)
        let r = sh([
            latchkeyBinary, "init", "--database", ownerURL, "--database-password-file", passwordFile, "--data-dir", root + "/data",
            "--key-file", root + "/master.key", "--grant-to", PostgresServer.daemonRole,
        ])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("created store postgresql://\(PostgresServer.ownerRole)@127.0.0.1:\(server.port)/latchkey"))
        #expect(r.out.contains("granted \(PostgresServer.daemonRole)"))
        #expect(!r.out.contains(server.ownerPassword) && !r.err.contains(server.ownerPassword))
        // The daemon role reads the store and appends to the audit tables, and nothing more.
        let daemon = PostgresServer.daemonRole
        let facts = try server.psql(as: daemon, "SELECT count(*) FROM metadata WHERE key IN ('root_check', 'schema_version'); SELECT count(*) FROM audit_checkpoint;")
        #expect(facts.status == 0, "\(facts.err)")
        #expect(facts.out.split(separator: "\n") == ["2", "1"])
        let rewrite = try server.psql(as: daemon, "DELETE FROM audit_checkpoint;")
        #expect(rewrite.status != 0 && rewrite.err.contains("permission denied"))
        // Again: the database already holds a store, which is left as it is.
        let again = sh([latchkeyBinary, "init", "--database", ownerURL, "--database-password-file", passwordFile, "--data-dir", root + "/data"])
        #expect(again.status == 0, "\(again.err)")
        #expect(again.out.contains("already holds a store: 0 migration(s) applied"))
        // --print-grants connects to nothing and prints what --grant-to ran.
        let grants = sh([latchkeyBinary, "init", "--database", "postgresql://owner@db.example/latchkey", "--print-grants"])
        #expect(grants.status == 0)
        #expect(grants.out.contains("GRANT SELECT, INSERT ON audit, audit_checkpoint TO \"latchkey_daemon\";"))
    }

    @Test func aPasswordInTheURLOrAWrongOneFailsWithWhatToFix() throws {
        let server = try PostgresServer.shared()
        let root = makeTempDirectory("pg-init-bad")
        let inURL = sh([latchkeyBinary, "init", "--database", "postgresql://latchkey_owner:hunter2@127.0.0.1:\(server.port)/latchkey", "--data-dir", root + "/data"])
        #expect(inURL.status != 0)
        #expect(inURL.err.contains("--database-password-file") && !inURL.err.contains("hunter2"))
        let wrong = root + "/wrong-password"
        try "not-the-password\n".write(toFile: wrong, atomically: false, encoding: .utf8)
        chmod(wrong, 0o600)
        let refused = sh([
            latchkeyBinary, "init", "--database", server.url(role: PostgresServer.ownerRole), "--database-password-file", wrong, "--data-dir", root + "/data",
        ])
        #expect(refused.status != 0)
        #expect(refused.err.contains("28P01") && refused.err.contains("--database-password-file"), "\(refused.err)")
        #expect(!refused.err.contains("not-the-password"))
        // Nothing was created in the data directory's place.
        #expect(!FileManager.default.fileExists(atPath: root + "/data/latchkey.db"))
    }
}
