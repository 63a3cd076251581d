import ArgumentParser
import Foundation

/// Where the store is when it is not the SQLite file in `--data-dir`: `--database URL`
/// (else `LATCHKEY_DATABASE`), a PostgreSQL database shared by a fleet, with the role's
/// password from `--database-password-file` or PGPASSFILE (never in the URL or argv).
struct DatabaseOptions: ParsableArguments {
    @Option(
        name: .long,
        help: "A PostgreSQL database for a fleet: postgresql://USER@HOST:PORT/DB?sslmode=verify-full&sslrootcert=CA.pem (default: $LATCHKEY_DATABASE; without either, the SQLite store in --data-dir).")
    var database: String?

    @Option(name: .long, help: "A file (mode 0600) whose first line is the database role's password (else PGPASSFILE, libpq's format).")
    var databasePasswordFile: String?

    /// The URL given, if any.
    var url: String? {
        if let database, !database.isEmpty { return database }
        if let env = ProcessInfo.processInfo.environment["LATCHKEY_DATABASE"], !env.isEmpty { return env }
        return nil
    }
}
