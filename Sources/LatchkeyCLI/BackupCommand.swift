import ArgumentParser
import Foundation
import LatchkeyAudit
import LatchkeyClient
import LatchkeyCrypto
import LatchkeyStore

/// `latchkey backup`: take a backup from the running daemon, or check one offline.
struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Back up the live store (admin), or verify a backup file offline.",
        discussion: """
            A backup is a consistent snapshot of the store taken while the daemon goes on
            releasing. It holds sealed data only: the master key (key file or passphrase) is
            NOT in it, and a restore needs the original one. Keep them apart.
            """,
        subcommands: [Take.self, Verify.self], defaultSubcommand: Take.self)

    struct Take: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "take",
            abstract: "Write a backup of the live store to --out (mode 0600; an existing file is replaced only once the new one is complete).")
        @Option(help: "The backup file to write.") var out: String
        @OptionGroup var client: ClientOptions

        func run() throws {
            do {
                let facts = try receiveBackup(to: out)
                let result = BackupResult(facts, path: out)
                if client.json { return try printJSON(result) }
                print("wrote \(out) (\(facts.bytes) bytes, schema v\(facts.schemaVersion), \(facts.sealedSecrets) sealed secret(s))")
                print("audit seq \(facts.lastAuditSeq), chain head \(result.chainHead)")
                print("sealed data only: the master key is not in the backup; a restore needs the original key file or passphrase")
            } catch { throw fail(error) }
        }

        /// Streams the daemon's answer into a file beside `path` (0600, exclusive) as it
        /// arrives — a chunk in memory at a time, whatever the store's size — syncs and
        /// checks it, then renames it into place and syncs the directory. A cut-off answer
        /// or a file that does not check out leaves `path` as it was.
        func receiveBackup(to path: String) throws -> StoreBackup.Facts {
            let directory = (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
            let temporary = (directory as NSString).appendingPathComponent(".\((path as NSString).lastPathComponent).\(getpid()).partial")
            let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                throw InputError(errno == EEXIST ? "\(temporary) already exists (another backup running?); remove it or wait" : "cannot create \(temporary): \(String(cString: strerror(errno)))")
            }
            defer { unlink(temporary) }  // ours from here: gone unless renamed into place
            do {
                defer { close(fd) }
                fchmod(fd, 0o600)
                try client.client().stream("/v1/backup", method: "POST") { piece in
                    var sent = 0
                    while sent < piece.count {
                        let n = piece.withUnsafeBytes { write(fd, $0.baseAddress! + sent, $0.count - sent) }
                        if n < 0 && errno == EINTR { continue }
                        guard n > 0 else { throw InputError("cannot write \(temporary): \(String(cString: strerror(errno)))") }
                        sent += n
                    }
                }
                guard fsync(fd) == 0 else { throw InputError("cannot sync \(temporary): \(String(cString: strerror(errno)))") }
            }
            let facts = try StoreBackup.inspect(temporary)
            guard rename(temporary, path) == 0 else { throw InputError("cannot rename the backup into \(path): \(String(cString: strerror(errno)))") }
            try StoreBackup.syncFile(directory)
            return facts
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a backup file offline: integrity, schema, audit chain and checkpoints, and (with the master key) that every secret opens.",
            discussion: """
                Needs no daemon. --public-key is the audit public key you keep (hex, as `latchkey
                audit public-key` prints it); without it the key recorded in the backup is used,
                which proves only that the file agrees with itself. With --key-file or
                --passphrase-stdin every sealed secret is opened (and wiped at once) with the
                master key, on a private temporary copy. With --expect-checkpoint or --log (the
                daemon's log or witness file), every checkpoint the backup should hold must be
                in it as signed; one newer than the backup is reported with how many rows a
                restore from it would lack. Exit status 0 only when all holds.
                """)
        @Argument(help: "The backup file.") var file: String
        @Option(help: "A file holding the audit public key (hex).") var publicKey: String?
        @OptionGroup var held: HeldCheckpointOptions
        @OptionGroup var key: KeyOptions
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            var result = BackupVerification(file: file)
            do {
                let facts = try StoreBackup.inspect(file)
                result.schemaVersion = facts.schemaVersion
                result.lastAuditSeq = facts.lastAuditSeq
                result.chainHead = Hex.encode(facts.chainHead)
                result.sealedSecrets = facts.sealedSecrets
                let (checked, trusted) = try verifyChain(file, publicKey: publicKey, held: held)
                var report = checked
                // Older than a checkpoint the operator holds is what a backup is once the
                // daemon went on: said, not failed (`restore` asks before it loses rows).
                if let behind = BehindCheckpoint(report.problem) {
                    result.behindCheckpoint = behind
                    report.problem = nil
                }
                result.auditIntact = report.isIntact
                result.auditReport = report.description
                result.auditKey = trusted ? "given" : "recorded in the backup"
                if !key.isDefault {
                    let opened = try openSecrets(file, key: key)
                    result.secretsOpened = opened.opened
                    result.secretsFailed = opened.failed
                }
            } catch {
                if json, let code = (error as? StoreError)?.code {
                    result.refused = code
                    try? printJSON(result)
                }
                throw fail(error)
            }
            result.intact = result.auditIntact == true && (result.secretsFailed?.isEmpty ?? true)
            if json {
                try printJSON(result)
            } else {
                print("\(file): integrity ok, schema v\(result.schemaVersion ?? 0), \(result.sealedSecrets ?? 0) sealed secret(s)")
                print("audit (key \(result.auditKey ?? "")): \(result.auditReport ?? "")")
                if let behind = result.behindCheckpoint { print("note: \(behind.note)") }
                if let opened = result.secretsOpened {
                    print("master key: \(opened) of \((result.sealedSecrets ?? 0)) secret(s) open")
                    for f in result.secretsFailed ?? [] { print("  does not open: \(f)") }
                }
                if publicKey == nil { printError("note: verified with the key recorded in the backup; pass --public-key to trust only the key you keep") }
            }
            if !result.intact { throw ExitCode(ExitStatus.dataError.rawValue) }
        }
    }
}

/// `latchkey restore FILE --data-dir DIR`: a new data directory from a backup.
struct RestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Make a new data directory from a backup (refuses a non-empty one); serve it with the original master key.",
        discussion: """
            The backup is checked first (integrity, schema, audit chain and checkpoints, with
            --public-key if given; with --key-file or --passphrase-stdin also that every sealed
            secret opens; with --expect-checkpoint or --log, against the checkpoints you keep)
            and refused if anything is wrong. A backup older than a checkpoint you give is
            refused unless --accept-older: the restored store would lack the rows after it. Nothing is written to the directory
            until then, and the store appears in it only once it is complete.
            """)
    @Argument(help: "The backup file.") var file: String
    @Option(help: "The new data directory (missing or empty; created mode 0700).") var dataDir: String
    @Option(help: "A file holding the audit public key (hex).") var publicKey: String?
    @OptionGroup var held: HeldCheckpointOptions
    @Flag(help: "Restore even though a checkpoint given with --expect-checkpoint or --log is newer than the backup (the rows after the backup's end are then not in the restored store).")
    var acceptOlder = false
    @OptionGroup var key: KeyOptions
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        do {
            let facts = try StoreBackup.inspect(file)
            var report = try verifyChain(file, publicKey: publicKey, held: held).0
            let behind = BehindCheckpoint(report.problem)
            if let behind {
                guard acceptOlder else {
                    printError("refusing to restore \(file): \(behind.note)\npass --accept-older to restore it all the same (use the newest backup you have)")
                    throw ExitCode(ExitStatus.dataError.rawValue)
                }
                report.problem = nil
            }
            guard report.isIntact else {
                printError("refusing to restore \(file): its audit chain does not verify\n\(report.description)")
                throw ExitCode(ExitStatus.dataError.rawValue)
            }
            if !key.isDefault {
                let opened = try openSecrets(file, key: key)
                guard opened.failed.isEmpty else {
                    printError("refusing to restore \(file): \(opened.failed.count) secret(s) do not open with the master key: \(opened.failed.joined(separator: ", "))")
                    throw ExitCode(ExitStatus.dataError.rawValue)
                }
            }
            try StoreBackup.restore(file, into: dataDir)
            var result = BackupResult(facts, path: (dataDir as NSString).appendingPathComponent(DataDirectory.databaseName))
            result.behindCheckpoint = behind
            if json { return try printJSON(result) }
            print("restored \(file) into \(dataDir): audit seq \(facts.lastAuditSeq), chain head \(result.chainHead)")
            if let behind {
                print("note: \(behind.note)")
                print("`audit verify --log` reports the restored store as behind that checkpoint; serve it with a new --checkpoint-witness file (keep the old one)")
            }
            print("start it with the original master key: latchkey serve --data-dir \(dataDir) --key-file KEY (or --passphrase-stdin)")
        } catch { throw fail(error) }
    }
}

/// The audit chain of a store file, with the key the user keeps when given, held to the
/// checkpoints the user keeps outside it (their log lines checked with that same key).
func verifyChain(_ path: String, publicKey: String?, held: HeldCheckpointOptions? = nil) throws -> (VerificationReport, trusted: Bool) {
    let key: [UInt8]
    if let publicKey {
        key = try readAuditPublicKey(publicKey)
    } else {
        guard let recorded = try AuditReader.storedPublicKey(databasePath: path) else {
            throw StoreError.damagedBackup(path: path, reason: "no audit public key recorded")
        }
        key = recorded
    }
    let expected = try held?.checkpoints(publicKey: key) ?? []
    return (try AuditReader.verify(databasePath: path, publicKey: key, expected: expected), publicKey != nil)
}

/// Reads a hex audit public key file (as `latchkey audit public-key` prints it).
func readAuditPublicKey(_ path: String) throws -> [UInt8] {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8),
        let key = Hex.decode(text.trimmingCharacters(in: .whitespacesAndNewlines)), key.count == 32
    else { throw InputError("--public-key \(path) does not hold 32 bytes of hex") }
    return key
}

/// Opens every sealed secret of a backup with the master key, on a private copy (the
/// store opener migrates and writes; the backup itself is never touched).
private func openSecrets(_ file: String, key: KeyOptions) throws -> (opened: Int, failed: [String]) {
    var template = Array((NSTemporaryDirectory() + "latchkey-verify-XXXXXX").utf8CString)
    guard let dir = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }).map({ String(cString: $0) }) else {
        throw InputError("cannot create a private temporary directory")
    }
    defer { removeTree(dir) }
    try StoreBackup.copy(file, to: (dir as NSString).appendingPathComponent(DataDirectory.databaseName))
    let store = try Store(directory: dir, create: false)
    let ring = try KeyRing.unlock(store: store, root: try KeyRing.rootKey(for: try key.source(dataDirectory: dir), store: store))
    return try StoreBackup.openSealedSecrets(store, keyRing: ring)
}

/// What `backup` and `restore` print with --json.
struct BackupResult: Encodable {
    var path: String
    var bytes: Int64
    var schemaVersion: Int
    var lastAuditSeq: Int64
    var chainHead: String
    var sealedSecrets: Int
    var containsMasterKey = false
    /// A restore of a backup older than a checkpoint given with --expect-checkpoint or --log.
    var behindCheckpoint: BehindCheckpoint?

    init(_ facts: StoreBackup.Facts, path: String) {
        self.path = path
        bytes = facts.bytes
        schemaVersion = facts.schemaVersion
        lastAuditSeq = facts.lastAuditSeq
        chainHead = Hex.encode(facts.chainHead)
        sealedSecrets = facts.sealedSecrets
    }
}

/// What `backup verify --json` prints.
struct BackupVerification: Encodable {
    var file: String
    var intact = false
    var refused: String?
    var schemaVersion: Int?
    var lastAuditSeq: Int64?
    var chainHead: String?
    var sealedSecrets: Int?
    var auditIntact: Bool?
    var auditKey: String?
    var auditReport: String?
    var secretsOpened: Int?
    var secretsFailed: [String]?
    /// The backup is older than a checkpoint given with --expect-checkpoint or --log.
    var behindCheckpoint: BehindCheckpoint?
}
