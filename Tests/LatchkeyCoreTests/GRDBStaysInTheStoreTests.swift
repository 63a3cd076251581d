import Foundation
import Testing

/// Row code runs on either engine (issue #19): GRDB, SQLite's driver, is an implementation
/// detail of the store's SQLite engine and of the SQLite-only paths (the read-only
/// inspection, migrations, backups of the file, the audit verifier's raw cursor). The core,
/// the server, the CLI and the fuzz targets reach the store only through `StoreDB` and
/// `StoreDatabase`. Read from Package.swift and the sources, so a new use fails here.
@Suite struct GRDBStaysInTheStoreTests {
    static let grdbModules: Set<String> = ["GRDB", "GRDBSQLite"]
    /// Where GRDB may be imported: the SQLite engine, its migrations, backups of its file and
    /// the audit verifier (its read-only file connections and raw cursor).
    static let allowedFiles: Set<String> = [
        "LatchkeyStore/SQLite/SQLiteConnection.swift", "LatchkeyStore/SQLite/SQLiteDatabase.swift",
        "LatchkeyStore/StoreBackup.swift", "LatchkeyStore/Schema.swift", "LatchkeyStore/Schema+Webhooks.swift",
        "LatchkeyAudit/AuditReader.swift", "LatchkeyAudit/StoredChainCheck.swift",
    ]

    @Test func onlyTheStoreAndTheAuditVerifierDependOnGRDB() throws {
        let targets = try CoreIsSocketFreeTests.targets()
        for module in ["LatchkeyCore", "LatchkeyServer", "LatchkeyCLI", "LatchkeyFuzz", "LatchkeyAPI", "LatchkeyPolicy"] {
            #expect(targets[module] != nil, "Package.swift has no \(module) target")
            let direct = (targets[module] ?? []).intersection(Self.grdbModules)
            #expect(direct.isEmpty, "\(module) names \(direct.sorted()) in Package.swift")
        }
    }

    @Test func noSourceOutsideTheSQLitePathsImportsGRDB() throws {
        let imports = try Regex(#"^\s*(?:@\w+\s+)*(?:(?:internal|package|public|private|fileprivate)\s+)?import\s+(?:\w+\s+)?([A-Za-z0-9_]+)"#).anchorsMatchLineEndings()
        let sources = CoreIsSocketFreeTests.root.appendingPathComponent("Sources")
        let files = FileManager.default.enumerator(atPath: sources.path)?.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") } ?? []
        #expect(files.count > 100, "no sources under \(sources.path)")
        var offenders: [String] = []
        for file in files where !Self.allowedFiles.contains(file) {
            let text = try String(contentsOf: sources.appendingPathComponent(file), encoding: .utf8)
            for m in text.matches(of: imports) where Self.grdbModules.contains(String(m.output[1].substring ?? "")) {
                offenders.append(file)
            }
        }
        #expect(offenders.isEmpty, "\(offenders.sorted()) import GRDB: reach the store through StoreDB / StoreDatabase")
    }
}
