import Foundation
import LatchkeyCrypto
import LatchkeyPostgres
import LatchkeyStore
import Testing

/// Where the database password may come from: a file given with `--database-password-file`
/// or libpq's password file named by PGPASSFILE (its format and rules), nowhere else.
@Suite struct PostgresPasswordTests {
    let location = PostgresLocation(user: "latchkey_daemon", host: "db.internal", port: 5432, database: "latchkey")

    private func file(_ contents: String, mode: mode_t = 0o600) -> String {
        let path = makeTempDirectory("pgpass") + "/pgpass"
        FileManager.default.createFile(atPath: path, contents: Data(contents.utf8))
        chmod(path, mode)
        return path
    }

    private func text(_ s: SecretBytes?) -> String? {
        s.map { $0.withUnsafeBytes { String(decoding: $0, as: UTF8.self) } }
    }

    private func match(_ line: String, host: String = "db.internal", port: Int = 5432, db: String = "latchkey", user: String = "latchkey_daemon") -> String? {
        PostgresPassword.match(Array(line.utf8), host: host, port: port, database: db, user: user).map { String(decoding: $0, as: UTF8.self) }
    }

    @Test func passfileLinesMatchFieldByFieldWithWildcards() {
        #expect(match("db.internal:5432:latchkey:latchkey_daemon:s3cret") == "s3cret")
        #expect(match("*:*:*:latchkey_daemon:any") == "any")
        #expect(match("*:*:*:*:all") == "all")
        #expect(match("db.internal:5433:latchkey:latchkey_daemon:x") == nil)
        #expect(match("other:5432:latchkey:latchkey_daemon:x") == nil)
        #expect(match("db.internal:5432:latchkey:latchkey_owner:x") == nil)
        // A `*` only stands for a whole field.
        #expect(match("db.*:5432:latchkey:latchkey_daemon:x") == nil)
        #expect(match("db.internal:5432:latchkey:latchkey_daemo:x") == nil)
        #expect(match("db.internal:5432:latchkey:latchkey_daemonX:x") == nil)
    }

    @Test func firstMatchingLineWinsCommentsAndBlankLinesSkipped() {
        let lines = "# a comment: *:*:*:*:nope\n\nother:*:*:*:wrong\n*:*:*:latchkey_daemon:first\n*:*:*:*:second\n"
        #expect(match(lines) == "first")
        #expect(match("*:*:*:*:crlf\r\n") == "crlf")
    }

    @Test func backslashEscapesColonsAndBackslashes() {
        #expect(match(#"db.internal:5432:latchkey:latchkey_daemon:a\:b\\c"#) == #"a:b\c"#)
        #expect(match(#"db\.internal:5432:latchkey:latchkey_daemon:x"#) == "x")  // \. is just "."
        #expect(match(#"*:*:lat\:chkey:*:x"#, db: "lat:chkey") == "x")
        // The password ends at an unescaped colon, as in libpq.
        #expect(match("*:*:*:*:pass:trailing") == "pass")
    }

    /// Short or garbled lines never match, and never crash the reader.
    @Test(arguments: [
        "", ":", "::::", "db.internal", "db.internal:5432", "db.internal:5432:latchkey", "db.internal:5432:latchkey:latchkey_daemon",
        "*", "*:", "\\", "\\\\:\\", "*:*:*", String(repeating: ":", count: 10_000), String(repeating: "\\", count: 10_001),
    ])
    func malformedLinesDoNotMatch(_ line: String) {
        let r = match(line)
        #expect(r == nil || r == "")
    }

    @Test func pgpassfileIsUsedWhenPrivate() throws {
        let path = file("db.internal:5432:latchkey:latchkey_daemon:from-pgpass\n")
        let pw = try PostgresPassword.resolve(for: location, passwordFile: nil, environment: ["PGPASSFILE": path])
        #expect(text(pw) == "from-pgpass")
    }

    @Test func pgpassfileWithGroupOrOtherAccessIsIgnoredAsLibpq() throws {
        for mode: mode_t in [0o640, 0o604, 0o660, 0o644, 0o666] {
            let path = file("*:*:*:*:leaked\n", mode: mode)
            #expect(try PostgresPassword.resolve(for: location, passwordFile: nil, environment: ["PGPASSFILE": path]) == nil)
        }
        // Not a regular file (a directory), a missing file, an empty variable: no password.
        #expect(try PostgresPassword.resolve(for: location, passwordFile: nil, environment: ["PGPASSFILE": makeTempDirectory("pgdir")]) == nil)
        #expect(try PostgresPassword.resolve(for: location, passwordFile: nil, environment: ["PGPASSFILE": "/nonexistent/pgpass"]) == nil)
        #expect(try PostgresPassword.resolve(for: location, passwordFile: nil, environment: ["PGPASSFILE": ""]) == nil)
        #expect(try PostgresPassword.resolve(for: location, passwordFile: nil, environment: [:]) == nil)
    }

    @Test func passwordFileGivesItsFirstLineAndWinsOverPgpass() throws {
        let own = file("from-file\nsecond line ignored\n")
        let pgpass = file("*:*:*:*:from-pgpass\n")
        let pw = try PostgresPassword.resolve(for: location, passwordFile: own, environment: ["PGPASSFILE": pgpass])
        #expect(text(pw) == "from-file")
        #expect(text(try PostgresPassword.resolve(for: location, passwordFile: file("no-newline"), environment: [:])) == "no-newline")
        #expect(text(try PostgresPassword.resolve(for: location, passwordFile: file("with:colons\\and\\slashes\r\n"), environment: [:]))
            == "with:colons\\and\\slashes")
    }

    @Test func anUnusablePasswordFileIsAnErrorThatNamesTheFix() throws {
        let exposed = file("secret-value\n", mode: 0o644)
        do {
            _ = try PostgresPassword.resolve(for: location, passwordFile: exposed, environment: [:])
            Issue.record("accepted a world-readable password file")
        } catch {
            #expect(error.description.contains("chmod 600"))
            #expect(!error.description.contains("secret-value"))
            #expect(error.code == "database_password_file_unusable")
        }
        let dir = makeTempDirectory("pwlink")
        let target = file("linked\n")
        symlink(target, dir + "/link")
        for path in ["/nonexistent/pw", makeTempDirectory("pwdir"), dir + "/link", file(""), file("\nsecond")] {
            #expect(throws: PostgresLocationError.self) { try PostgresPassword.resolve(for: location, passwordFile: path, environment: [:]) }
        }
        let big = file(String(repeating: "x", count: PostgresPassword.maximumFileBytes + 1))
        #expect(throws: PostgresLocationError.self) { try PostgresPassword.resolve(for: location, passwordFile: big, environment: [:]) }
        var invalid = Data("pw".utf8)
        invalid.append(0xff)
        let binary = makeTempDirectory("pwbin") + "/pw"
        FileManager.default.createFile(atPath: binary, contents: invalid)
        chmod(binary, 0o600)
        #expect(throws: PostgresLocationError.self) { try PostgresPassword.resolve(for: location, passwordFile: binary, environment: [:]) }
    }
}
