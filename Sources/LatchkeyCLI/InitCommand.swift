import ArgumentParser
import LatchkeyCrypto
import LatchkeyAudit
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

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func run() throws {
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
