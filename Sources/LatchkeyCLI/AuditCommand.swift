import ArgumentParser
import Foundation
import LatchkeyAPI
import LatchkeyAudit
import LatchkeyClient
import LatchkeyCrypto
import LatchkeyPostgres
import LatchkeyStore

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "The audit log (auditors): list, export, verify.",
        subcommands: [List.self, Export.self, Verify.self, PublicKey.self])

    struct Filters: ParsableArguments {
        @Option(help: "From this time (2026-11-22 or 2026-11-22T10:00:00Z).") var since: String?
        @Option(help: "Before this time.") var until: String?
        @Option var project: String?
        @Option(help: "e.g. secret.release, session.open, deploy-key.rotate.") var action: String?
        @Option(help: "granted, denied or failed.") var outcome: String?
        @Option var uid: UInt32?

        var query: String {
            var q: [String] = []
            for (k, v) in [("since", since), ("until", until), ("project", project), ("action", action), ("outcome", outcome), ("uid", uid.map(String.init))] {
                if let v { q.append("\(k)=\(v.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "-._:"))) ?? v)") }
            }
            return q.joined(separator: "&")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List audit rows (readable, or --json).")
        @OptionGroup var filters: Filters
        @Option(help: "At most this many rows (default 100).") var limit = 100
        @OptionGroup var client: ClientOptions

        func run() throws {
            do {
                var q = filters.query
                q += (q.isEmpty ? "" : "&") + "limit=\(limit)"
                let rows: [AuditRow] = try client.client().call("GET", "/v1/audit?\(q)")
                if client.json { return try printJSON(rows) }
                // A fleet's rows name the host that wrote them: then a HOST column.
                let hosts = rows.contains { $0.host != nil }
                printTable(["SEQ", "TIME"] + (hosts ? ["HOST"] : []) + ["ROLE", "UID", "ACTION", "TARGET", "OUTCOME"], rows.map { r in
                    let target = [r.connection, r.project, r.kind, r.version.map { "v\($0)" }].compactMap { $0 }.joined(separator: "/")
                    return [String(r.seq), r.time] + (hosts ? [r.host ?? "-"] : []) + [r.role, r.uid.map(String.init) ?? "-", r.action,
                            target.isEmpty ? "-" : target, r.outcome + (r.reason.map { " (\($0))" } ?? "")]
                })
            } catch { throw fail(error) }
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write JSON Lines (header, rows, checkpoints) to stdout.")
        @Option(help: "Only rows from this time on.") var since: String?
        @OptionGroup var client: ClientOptions

        func run() throws {
            do {
                let q = since.map { "?since=\($0)" } ?? ""
                // Written as it arrives: flat memory however long the log.
                try client.client().stream("/v1/audit/export\(q)") { FileHandle.standardOutput.write(Data($0)) }
            } catch { throw fail(error) }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the hash chain and every checkpoint signature, without the master key.",
            discussion: """
                With --file, checks an export offline. With --data-dir, reads that store's file
                directly (read-only); with --database (or LATCHKEY_DATABASE), a fleet's store on
                PostgreSQL, in one read-only snapshot, as any role that may read it. Otherwise fetches an export from the daemon. Give the audit
                public key you keep (--public-key FILE, hex) to trust nothing in what is checked.
                Fails when there is no checkpoint, when the checkpoints do not chain, and when the
                rows after the last one are more, or older, than the daemon leaves unsigned. A log
                cut back within one checkpoint interval looks like one that ended there: give a
                checkpoint kept outside the store (--expect-checkpoint, or --log with the daemon's
                log or witness file) to prove the tail. Exit status 0 only when all is intact.
                """)
        @Option(help: "An export made by `latchkey audit export`.") var file: String?
        @Option(help: "A file holding the audit public key (hex, as `audit public-key` prints it).") var publicKey: String?
        @Option(help: "Verify the store in this data directory directly.") var dataDir: String?
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var held: HeldCheckpointOptions
        @OptionGroup var client: ClientOptions

        func run() throws {
            do {
                if file != nil || dataDir != nil, database.database != nil {
                    throw ValidationError("give one of --file, --data-dir and --database")
                }
                var trusted: [UInt8]?
                if let publicKey {
                    guard let text = try? String(contentsOfFile: publicKey, encoding: .utf8),
                        let key = Hex.decode(text.trimmingCharacters(in: .whitespacesAndNewlines)), key.count == 32
                    else { throw InputError("--public-key \(publicKey) does not hold 32 bytes of hex") }
                    trusted = key
                }
                let report: VerificationReport
                var keySource = "the key you gave"
                // Log lines carry no key; they are checked with the key the rest is checked with.
                func logged(_ key: [UInt8]) throws -> [ExpectedCheckpoint] { try held.checkpoints(publicKey: key) }
                if let dataDir {
                    let path = (dataDir as NSString).appendingPathComponent(DataDirectory.databaseName)
                    guard FileManager.default.fileExists(atPath: path) else { throw StoreError.notInitialized(path: dataDir) }
                    if trusted == nil { keySource = "the key recorded in the store" }
                    guard let key = try trusted ?? AuditReader.storedPublicKey(databasePath: path) else { throw InputError("no audit public key") }
                    report = try AuditReader.verify(databasePath: path, publicKey: key, expected: try logged(key))
                } else if file == nil, let url = database.url {
                    let db = try PostgresDatabase.openForDaemon(url: url, passwordFile: database.databasePasswordFile)
                    defer { db.close() }
                    // Only read: the directory is where this host's own files would be, unused.
                    let store = Store(directory: FileManager.default.currentDirectoryPath, database: db)
                    if trusted == nil { keySource = "the key recorded in the store" }
                    guard let key = try trusted ?? store.metadata("audit_public_key").flatMap(Hex.decode) else {
                        throw InputError("\(db.location) records no audit public key: is it a Latchkey store (`latchkey init --database …`)?")
                    }
                    report = try AuditReader.verify(store: store, publicKey: key, expected: try logged(key))
                } else {
                    let bytes: [UInt8]
                    // With the key given, the logs are read before the daemon's export is
                    // fetched: a checkpoint signed in between is then not one the export lacks.
                    let early = try trusted.map(logged)
                    if let file {
                        guard let data = FileManager.default.contents(atPath: file) else { throw InputError("cannot read --file \(file)") }
                        bytes = Array(data)
                    } else {
                        bytes = try client.client().call("GET", "/v1/audit/export")
                    }
                    let contents = try AuditExport.read(bytes)
                    if trusted == nil { keySource = "the key inside the export" }
                    let key = trusted ?? contents.publicKey
                    report = AuditVerifier.verify(
                        records: contents.records, checkpoints: contents.checkpoints, publicKey: key, expected: try early ?? logged(key))
                }
                if client.json {
                    try printJSON(VerifyResult(intact: report.isIntact, rows: report.rowsChecked, checkpoints: report.checkpointsChecked,
                        firstBadSeq: report.problem?.seq, report: report.description))
                } else {
                    print(report.description)
                    if trusted == nil { printError("note: verified with \(keySource); pass --public-key to trust only the key you keep") }
                }
                if !report.isIntact { throw ExitCode(ExitStatus.dataError.rawValue) }
            } catch let e as ExitCode {
                throw e
            } catch let e as AuditError {
                printError("\(e)")
                throw ExitCode(ExitStatus.dataError.rawValue)
            } catch let e as CheckpointLine.Failure {
                printError("\(e)")
                throw ExitCode(ExitStatus.dataError.rawValue)
            } catch { throw fail(error) }
        }
    }

    struct PublicKey: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "public-key", abstract: "Print the audit public key (hex).")
        @OptionGroup var client: ClientOptions
        func run() throws {
            do {
                let k: AuditPublicKey = try client.client().call("GET", "/v1/audit/public-key")
                if client.json { try printJSON(k) } else { print(k.publicKey) }
            } catch { throw fail(error) }
        }
    }
}

struct VerifyResult: Encodable {
    var intact: Bool
    var rows: Int
    var checkpoints: Int
    var firstBadSeq: Int64?
    var report: String
}
