import ArgumentParser
import LatchkeyCrypto
import LatchkeyAudit
import LatchkeyPostgres
import LatchkeyStore
import Foundation

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init", abstract: "Create a new sealed store (and a master key file, unless a passphrase is used).")

    @Option(name: .long, help: "The data directory (created mode 0700).")
    var dataDir = Defaults.dataDirectory

    @OptionGroup var key: KeyOptions

    @Option(name: .long, help: "Argon2id cost for --passphrase-stdin: moderate (default) or interactive.")
    var kdf = "moderate"

    @OptionGroup var database: DatabaseOptions

    @Flag(name: .long, help: "With --database: print the GRANTs that give --daemon-role what `latchkey serve` needs, and do nothing else.")
    var printGrants = false

    @Option(name: .long, help: "With --database: after migrating, grant this role what `latchkey serve` needs (run init as the owner role).")
    var grantTo: String?

    @Option(name: .long, help: "The daemon's role for --print-grants.")
    var daemonRole = "latchkey_daemon"

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func run() throws {
        if printGrants || grantTo != nil || database.url != nil {
            return try runOnPostgres()
        }
        do {
            let limits: PassphraseLimits
            switch kdf {
            case "moderate": limits = .moderate
            case "interactive": limits = .interactive
            default: throw ValidationError("--kdf must be moderate or interactive, not '\(kdf)'")
            }
            let source = try key.source(dataDirectory: dataDir)
            let (store, ring) = try initializeStore(dataDirectory: dataDir, source: source, limits: limits)
            let facts = InitResult(
                dataDirectory: dataDir, database: store.path, keyGeneration: ring.generation,
                auditPublicKey: Hex.encode(ring.auditSigning.publicKey), intakePublicKey: Hex.encode(ring.intake.publicKey))
            if json {
                try printJSON(facts)
            } else {
                print("created store \(store.path) (key generation \(ring.generation))")
                if case .keyFile(let path) = source { print("master key file: \(path) (mode 0600; back it up offline)") }
                print("audit public key: \(facts.auditPublicKey)")
            }
        } catch let e as ValidationError {
            throw e
        } catch {
            throw fail(error)
        }
    }
}

extension InitCommand {
    /// `init --database URL`, as the owner role: applies the PostgreSQL migrations, creates
    /// the key ring (unless the database already holds one: then it only migrated), and
    /// with `--grant-to` grants the daemon's role what it needs; `--print-grants` prints
    /// those GRANTs and connects to nothing.
    func runOnPostgres() throws {
        guard let url = database.url else {
            throw ValidationError("--print-grants and --grant-to need --database postgresql://… (or LATCHKEY_DATABASE)")
        }
        do {
            let location = try PostgresLocation(parsing: url)
            if printGrants {
                print(PostgresSchema.grantScript(daemonRole: daemonRole, database: location.database), terminator: "")
                return
            }
            let limits: PassphraseLimits
            switch kdf {
            case "moderate": limits = .moderate
            case "interactive": limits = .interactive
            default: throw ValidationError("--kdf must be moderate or interactive, not '\(kdf)'")
            }
            let (db, migrated) = try PostgresDatabase.openAndMigrate(url: url, passwordFile: database.databasePasswordFile)
            try DataDirectory.prepare(dataDir, create: true)
            let store = Store(directory: dataDir, database: db)
            var created: KeyRing?
            if !store.isInitialized {
                let source = try key.source(dataDirectory: dataDir)
                let ring = try KeyRing.initialize(store: store, source: source, limits: limits)
                try AuditLog.signFirstCheckpoint(store: store, signingKey: ring.auditSigning)
                created = ring
                if !json {
                    print("created store \(location) (key generation \(ring.generation))")
                    if case .keyFile(let path) = source { print("master key file: \(path) (mode 0600; back it up offline; every daemon of the fleet needs it)") }
                    print("audit public key: \(Hex.encode(ring.auditSigning.publicKey))")
                }
            } else if !json {
                print("\(location) already holds a store: \(migrated) migration(s) applied, its key ring left as it is")
            }
            if let role = grantTo {
                try db.write { db in
                    for statement in PostgresSchema.grantStatements(daemonRole: role, database: location.database) { try db.execute(sql: statement) }
                }
                if !json { print("granted \(role) what latchkey serve needs (SELECT and INSERT only on the audit tables)") }
            }
            if json {
                try printJSON(
                    PostgresInitResult(
                        database: location.description, migrationsApplied: migrated, created: created != nil, keyGeneration: created?.generation,
                        auditPublicKey: created.map { Hex.encode($0.auditSigning.publicKey) }, grantedTo: grantTo))
            }
        } catch let e as ValidationError {
            throw e
        } catch {
            throw fail(error)
        }
    }
}

struct PostgresInitResult: Encodable {
    var database: String
    var migrationsApplied: Int
    var created: Bool
    var keyGeneration: Int64?
    var auditPublicKey: String?
    var grantedTo: String?
}

struct InitResult: Encodable {
    var dataDirectory: String
    var database: String
    var keyGeneration: Int64
    var auditPublicKey: String
    var intakePublicKey: String
}

/// Creates the store and its key ring; refuses an existing store and leaves no half
/// store behind when it fails.
func initializeStore(dataDirectory: String, source: RootKeySource, limits: PassphraseLimits) throws -> (Store, KeyRing) {
    let dbPath = (dataDirectory as NSString).appendingPathComponent(DataDirectory.databaseName)
    if FileManager.default.fileExists(atPath: dbPath) { throw StoreError.alreadyInitialized(path: dataDirectory) }
    // A directory that holds no store yet (e.g. Keys/ as a fresh clone has it, mode 0755
    // with only its README) is ours to make private before anything secret goes in.
    var st = stat()
    if stat(dataDirectory, &st) == 0, st.st_mode & S_IFMT == S_IFDIR, st.st_mode & 0o077 != 0 {
        guard chmod(dataDirectory, 0o700) == 0 else { throw StoreError.directoryExposed(path: dataDirectory, mode: UInt16(st.st_mode & 0o777)) }
        printError("made \(dataDirectory) private (mode 0700) before creating the store in it")
    }
    do {
        let store = try Store(directory: dataDirectory, create: true)
        let ring = try KeyRing.initialize(store: store, source: source, limits: limits)
        try AuditLog.signFirstCheckpoint(store: store, signingKey: ring.auditSigning)
        return (store, ring)
    } catch {
        for suffix in ["", "-wal", "-shm"] { unlink(dbPath + suffix) }
        throw error
    }
}
