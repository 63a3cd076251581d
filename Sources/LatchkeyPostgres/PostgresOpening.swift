package import LatchkeyStore
import Foundation

/// What `latchkey serve|init --database URL` do with the URL, in one place: parse it, find
/// the password (`--database-password-file`, else PGPASSFILE), connect at once (so a wrong
/// password, an untrusted certificate or an unreachable server fails at start, with a
/// message saying what to fix) and check or bring the schema to this build's version.
/// Errors are `PostgresLocationError`, `SQLError` or `StoreError`; none holds the password.
extension PostgresDatabase {
    /// For the daemon's role: the schema must be exactly this build's (the role cannot
    /// migrate it; `latchkey init --database …` as the owner does).
    package static func openForDaemon(
        url: String, passwordFile: String?, environment: [String: String] = ProcessInfo.processInfo.environment, listensForChanges: Bool = true
    ) throws -> PostgresDatabase {
        let db = try connected(url: url, passwordFile: passwordFile, environment: environment, listensForChanges: listensForChanges)
        try PostgresSchema.check(db)
        return db
    }

    /// For the owner role (`latchkey init --database …`): applies the migrations this build
    /// has and the database lacks; returns the database and how many migrations ran.
    package static func openAndMigrate(
        url: String, passwordFile: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> (database: PostgresDatabase, migrationsRun: Int) {
        let db = try connected(url: url, passwordFile: passwordFile, environment: environment)
        return (db, try PostgresSchema.migrate(db))
    }

    private static func connected(
        url: String, passwordFile: String?, environment: [String: String], listensForChanges: Bool = true
    ) throws -> PostgresDatabase {
        let location = try PostgresLocation(parsing: url)
        let password = try PostgresPassword.resolve(for: location, passwordFile: passwordFile, environment: environment)
        let db = try PostgresDatabase(location: location, password: password, listensForChanges: listensForChanges)
        try db.connect()
        return db
    }
}
