import Foundation
import LatchkeyPostgres
import LatchkeyStore
import Testing

/// `--database postgresql://…` read as libpq reads it, minus what a daemon must not take
/// from a URL (a password), with every refusal saying what to write instead.
@Suite struct PostgresLocationTests {
    @Test func readsUserHostPortDatabaseAndSSLSettings() throws {
        let l = try PostgresLocation(parsing: "postgresql://latchkey@db.internal:6432/vault?sslmode=verify-full&sslrootcert=/etc/latchkey/ca.pem")
        #expect(l.user == "latchkey")
        #expect(l.host == "db.internal")
        #expect(l.port == 6432)
        #expect(l.database == "vault")
        #expect(l.sslMode == .verifyFull)
        #expect(l.sslModeExplicit)
        #expect(l.sslRootCert == "/etc/latchkey/ca.pem")
        #expect(l.description == "postgresql://latchkey@db.internal:6432/vault?sslmode=verify-full&sslrootcert=/etc/latchkey/ca.pem")
    }

    @Test func postgresSchemeDefaultPortAndDatabaseAsLibpq() throws {
        let l = try PostgresLocation(parsing: "postgres://ci@db.example")
        #expect(l.port == 5432)
        #expect(l.database == "ci")  // libpq: the database defaults to the user's name
        #expect(PostgresLocation.looksLikePostgres("postgres://x@y"))
        #expect(PostgresLocation.looksLikePostgres("postgresql://x@y"))
        #expect(!PostgresLocation.looksLikePostgres("sqlite:Keys"))
    }

    @Test func sslmodeDefaultsToVerifyFullExceptOnLoopback() throws {
        #expect(try PostgresLocation(parsing: "postgresql://u@db.example/d").sslMode == .verifyFull)
        #expect(try PostgresLocation(parsing: "postgresql://u@10.0.0.5/d").sslMode == .verifyFull)
        #expect(try PostgresLocation(parsing: "postgresql://u@127.0.0.1/d").sslMode == .prefer)
        #expect(try PostgresLocation(parsing: "postgresql://u@127.4.5.6/d").sslMode == .prefer)
        #expect(try PostgresLocation(parsing: "postgresql://u@localhost/d").sslMode == .prefer)
        #expect(try PostgresLocation(parsing: "postgresql://u@[::1]:5433/d").sslMode == .prefer)
        // A name that merely starts like loopback is not loopback.
        #expect(try PostgresLocation(parsing: "postgresql://u@127.0.0.1.evil.example/d").sslMode == .verifyFull)
        #expect(try PostgresLocation(parsing: "postgresql://u@localhost.evil.example/d").sslMode == .verifyFull)
        #expect(try !PostgresLocation(parsing: "postgresql://u@db.example/d").sslModeExplicit)
    }

    @Test func requireWithARootCertificateVerifiesTheChainAsLibpq() throws {
        #expect(try PostgresLocation(parsing: "postgresql://u@db/d?sslmode=require").effectiveSSLMode == .require)
        #expect(try PostgresLocation(parsing: "postgresql://u@db/d?sslmode=require&sslrootcert=/ca.pem").effectiveSSLMode == .verifyCA)
        #expect(try PostgresLocation(parsing: "postgresql://u@db/d?sslmode=disable").effectiveSSLMode == .disable)
    }

    @Test func ipv6AndPercentEncodedParts() throws {
        let l = try PostgresLocation(parsing: "postgresql://ci%2Dbot@[fd00::1]:5433/my%20db")
        #expect(l.host == "fd00::1")
        #expect(l.port == 5433)
        #expect(l.user == "ci-bot")
        #expect(l.database == "my db")
        #expect(l.description.hasPrefix("postgresql://ci-bot@[fd00::1]:5433/"))
    }

    @Test func aPasswordInTheURLIsRefusedWithWhereToPutIt() throws {
        for url in [
            "postgresql://latchkey:hunter2@db/vault", "postgresql://latchkey:@db/vault", "postgres://a:b:c@db",
            "postgresql://latchkey@db/vault?password=hunter2", "postgresql://u@db/d?passfile=/tmp/x",
            "postgresql://latchkey%3Ahunter2@db/vault?sslmode=disable&password=x",
        ] {
            do {
                _ = try PostgresLocation(parsing: url)
                Issue.record("accepted \(url)")
            } catch {
                #expect(error == .passwordInURL || url.contains("%3A"), "\(url): \(error)")
                #expect(!error.description.contains("hunter2"))
            }
        }
        let message = PostgresLocationError.passwordInURL.description
        #expect(message.contains("--database-password-file") && message.contains("PGPASSFILE"))
        #expect(PostgresLocationError.passwordInURL.code == "database_password_in_url")
    }

    /// Hostile and malformed URLs: each refused with a message, none accepted by accident.
    @Test(arguments: [
        "", "postgresql://", "mysql://u@db/d", "postgresql:/u@db/d", "u@db/d", "postgresql://db/d", "postgresql://@db/d",
        "postgresql://u@/d", "postgresql://u@:5432/d", "postgresql://u@db:0/d", "postgresql://u@db:65536/d", "postgresql://u@db:-1/d",
        "postgresql://u@db:54x2/d", "postgresql://u@db:/d", "postgresql://u@db:99999999999999999999/d", "postgresql://u@[::1/d",
        "postgresql://u@[::1]x/d", "postgresql://u@[not-v6]/d", "postgresql://u@db1,db2/d", "postgresql://u@db1:5432,db2:5432/d",
        "postgresql://u@%2Ftmp%2Fsock/d", "postgresql://u@db/a/b", "postgresql://u@db/d?sslmode=allow", "postgresql://u@db/d?sslmode=VERIFY-FULL",
        "postgresql://u@db/d?sslmode=", "postgresql://u@db/d?sslmode=require&sslmode=disable", "postgresql://u@db/d?sslmod=disable",
        "postgresql://u@db/d?sslmode", "postgresql://u@db/d?sslrootcert=", "postgresql://u@db/d?sslrootcert=system",
        "postgresql://u@db/d?sslmode=disable&sslrootcert=/ca.pem", "postgresql://u@db/d?connect_timeout=soon",
        "postgresql://u@db/d?connect_timeout=-3", "postgresql://u@db/d#frag", "postgresql://u@db/d%", "postgresql://u@db/d%4",
        "postgresql://u@db/d%zz", "postgresql://u@db/d%00", "postgresql://u%00x@db/d", "postgresql://u@db/d%ff%fe",
        "postgresql://u@db/d%0a", "postgresql://u@db/ d", "postgresql://u@db/d\n", "postgresql://u@d\u{7f}b/d", "postgresql://u@db\t/d",
        "postgresql://u@db/d?host=/tmp", "postgresql://u@db%40evil/d", "postgresql://u@d%2Cb/d",
        "postgresql://u@db/d?=x", "postgresql://u@db/d?&", "postgresql://u@" + String(repeating: "a", count: 5000) + "/d",
    ])
    func malformedURLsAreRefusedWithAMessage(_ url: String) {
        do {
            let l = try PostgresLocation(parsing: url)
            Issue.record("accepted \(url.debugDescription) as \(l)")
        } catch {
            #expect(!error.description.isEmpty)
            #expect(error.code.hasPrefix("database_"))
        }
    }

    @Test func connectTimeoutAndApplicationName() throws {
        let l = try PostgresLocation(parsing: "postgresql://u@db/d?connect_timeout=1&application_name=latchkey-host-a")
        #expect(l.connectTimeoutSeconds == 2)  // libpq: below 2 means 2
        #expect(l.applicationName == "latchkey-host-a")
        #expect(try PostgresLocation(parsing: "postgresql://u@db/d?connect_timeout=0").connectTimeoutSeconds == nil)
    }
}
