import Foundation
import LatchkeyAudit
import LatchkeyCrypto
import LatchkeyPostgres
import LatchkeyStore

/// `latchkey store copy`: every row of every table of one store into an empty store on
/// another engine (SQLite ⇄ PostgreSQL), values as they are, so sealed blobs stay
/// byte-identical and open on the other side (their bindings name rows by id, and the ids
/// are copied). The source's audit chain is verified first, the target's after; the target
/// is written in one transaction, so a failed copy leaves it as empty as it was.
enum StoreCopy {
    /// The tables in an order their foreign keys allow (parents first; the audit tables
    /// ascending, as their append-only triggers demand). Not `changes`: it only tells the
    /// daemons running on a store what another did, and no daemon runs during a copy.
    static let tables = [
        "metadata", "key_generation", "connection", "project", "secret_version", "session", "ssh_certificate_serial",
        "connection_certificate_settings", "scm_deploy_key", "minted_token", "scm_webhook", "token_verification",
        "audit", "audit_checkpoint",
    ]
    /// How each table's rows are read: in key order.
    static func selectSQL(_ table: String) -> String {
        switch table {
        case "audit": "SELECT * FROM audit ORDER BY seq"
        case "audit_checkpoint": "SELECT * FROM audit_checkpoint ORDER BY id"
        case "metadata": "SELECT * FROM metadata ORDER BY key"
        default: "SELECT * FROM \(table)"
        }
    }

    /// One side: `sqlite:DIR` or a PostgreSQL URL.
    enum Endpoint: CustomStringConvertible {
        case sqlite(directory: String)
        case postgresql(url: String, passwordFile: String?)

        init(_ text: String, passwordFile: String?, option: String) throws {
            if text.hasPrefix("sqlite:") {
                let dir = String(text.dropFirst("sqlite:".count))
                guard !dir.isEmpty else { throw InputError("\(option) sqlite: needs a data directory, e.g. sqlite:/var/lib/latchkey") }
                self = .sqlite(directory: dir)
            } else if text.hasPrefix("postgresql://") || text.hasPrefix("postgres://") {
                self = .postgresql(url: text, passwordFile: passwordFile)
            } else {
                // Only the scheme is repeated: a mistyped URL may carry a password.
                let scheme = text.split(separator: ":", maxSplits: 1).first.map { Names.printable(String($0.prefix(32))) } ?? ""
                throw InputError("\(option) must be sqlite:DIR or postgresql://USER@HOST:PORT/DB?…, not a '\(scheme):' location")
            }
        }

        var description: String {
            switch self {
            case .sqlite(let d): "sqlite:\(d)"
            case .postgresql(let url, _): (try? PostgresLocation(parsing: url).description) ?? "postgresql://…"
            }
        }
    }

    struct Result: Encodable {
        var from: String
        var to: String
        var rows: [String: Int]
        var auditRows: Int64
        var checkpoints: Int
    }

    /// The source store, as it is (an older SQLite store is brought to this build's schema,
    /// as `serve` would; a PostgreSQL one must be at exactly this build's).
    static func openSource(_ e: Endpoint) throws -> (Store, close: () -> Void) {
        switch e {
        case .sqlite(let dir):
            return (try Store(directory: dir, create: false), {})
        case .postgresql(let url, let passwordFile):
            let db = try PostgresDatabase.openForDaemon(url: url, passwordFile: passwordFile)
            return (Store(directory: FileManager.default.currentDirectoryPath, database: db), { db.close() })
        }
    }

    /// The target: a new SQLite store, or a PostgreSQL database migrated as its owner.
    static func openTarget(_ e: Endpoint) throws -> (Store, close: () -> Void) {
        switch e {
        case .sqlite(let dir):
            return (try Store(directory: dir, create: true), {})
        case .postgresql(let url, let passwordFile):
            let (db, _) = try PostgresDatabase.openAndMigrate(url: url, passwordFile: passwordFile)
            return (Store(directory: FileManager.default.currentDirectoryPath, database: db), { db.close() })
        }
    }

    static func run(from: Endpoint, to: Endpoint) throws -> Result {
        let (source, closeSource) = try openSource(from)
        defer { closeSource() }
        guard source.isInitialized else { throw InputError("\(from) holds no store (no key ring): nothing to copy") }
        guard let keyText = try source.metadata("audit_public_key"), let publicKey = Hex.decode(keyText) else {
            throw InputError("\(from) records no audit public key: is it a Latchkey store?")
        }
        let before = try AuditReader.verify(store: source, publicKey: publicKey)
        guard before.isIntact else { throw InputError("\(from): the audit log does not verify, nothing copied: \(before.description)") }

        let (target, closeTarget) = try openTarget(to)
        defer { closeTarget() }
        var counts: [String: Int] = [:]
        try source.database.read { s in
            try target.database.write { t in
                let sourceVersion: String? = try String.fetchOne(s, sql: "SELECT value FROM metadata WHERE key = 'schema_version'")
                let targetVersion: String? = try String.fetchOne(t, sql: "SELECT value FROM metadata WHERE key = 'schema_version'")
                guard sourceVersion == targetVersion else {
                    throw InputError(
                        "\(from) is at schema version \(sourceVersion ?? "none") and \(to) at \(targetVersion ?? "none"): use one latchkey build for both")
                }
                try refuseNonEmpty(t, to)
                for table in tables {
                    counts[table] = try copy(table, from: s, to: t)
                }
                if t.engine == .postgresql { try advanceIdentities(t) }
            }
        }
        let after = try AuditReader.verify(store: target, publicKey: publicKey)
        guard after.isIntact, after.lastSeq == before.lastSeq else {
            throw InputError("\(to): the copied audit log does not verify as the source's did: \(after.description)")
        }
        return Result(from: from.description, to: to.description, rows: counts, auditRows: after.lastSeq, checkpoints: after.checkpointsChecked)
    }

    /// A target holding anything but its empty schema (a key ring, any row) is refused.
    static func refuseNonEmpty(_ t: StoreDB, _ to: Endpoint) throws {
        for table in tables where table != "metadata" {
            let n: Int64 = try Int64.fetchOne(t, sql: "SELECT count(*) FROM \(table)") ?? 0
            if n > 0 { throw InputError("\(to) is not empty (\(table) has \(n) row(s)): store copy only fills an empty store") }
        }
        if try String.fetchOne(t, sql: "SELECT value FROM metadata WHERE key = 'root_check'") != nil {
            throw InputError("\(to) already holds a key ring: store copy only fills an empty store")
        }
    }

    /// Copies one table's rows as they are; the metadata the empty target already has
    /// (its schema version) must agree with the source's.
    static func copy(_ table: String, from s: StoreDB, to t: StoreDB) throws -> Int {
        var copied = 0
        let existing: [String: String] =
            table == "metadata"
            ? Dictionary(uniqueKeysWithValues: try t.rows(sql: "SELECT key, value FROM metadata").map { ($0["key"] as String, $0["value"] as String) })
            : [:]
        var insertSQL: String?
        var failure: (any Error)?
        try s.forEachRow(sql: selectSQL(table)) { row in
            do {
                if table == "metadata", let key: String = row["key"], let have = existing[key] {
                    guard have == (row["value"] as String?) else { throw InputError("metadata \(key) differs between the two stores") }
                    return true
                }
                if insertSQL == nil {
                    let names = row.columns.map(PostgresSchema.quoteIdentifier).joined(separator: ", ")
                    let marks = Array(repeating: "?", count: row.columns.count).joined(separator: ", ")
                    insertSQL = "INSERT INTO \(table) (\(names)) VALUES (\(marks))"
                }
                _ = try t.execute(sql: insertSQL!, arguments: SQLArguments(row.values))
                copied += 1
                return true
            } catch {
                failure = error
                return false
            }
        }
        if let failure { throw failure }
        return copied
    }

    /// PostgreSQL's identity columns do not move when ids are given: each is set past the
    /// largest copied id, so the next row the daemon adds gets a new one.
    static func advanceIdentities(_ t: StoreDB) throws {
        let identities = try t.rows(
            sql: "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' AND is_identity = 'YES'")
        for row in identities {
            let table: String = row["table_name"]
            let column: String = row["column_name"]
            _ = try t.rows(
                sql: "SELECT setval(pg_get_serial_sequence(?, ?), max(\(PostgresSchema.quoteIdentifier(column)))) FROM \(PostgresSchema.quoteIdentifier(table)) HAVING count(*) > 0",
                arguments: [table, column])
        }
    }
}
