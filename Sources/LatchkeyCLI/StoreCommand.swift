import ArgumentParser
import Foundation

/// `latchkey store`: moving a whole store between engines.
struct StoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store", abstract: "Move a store between SQLite and PostgreSQL (offline; stop the daemons first).",
        subcommands: [Copy.self])

    struct Copy: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy every row of a store into an empty store on another engine.",
            discussion: """
                FROM and TO are sqlite:DIR (the store file in a data directory) or a PostgreSQL
                URL (the target as its owner role: its migrations are applied first). The target
                must be empty; it is written in one transaction. Rows are copied as they are, so
                the sealed secrets stay sealed under the same master key and open on the other
                engine. The source's audit chain is verified before, the target's after. No
                daemon may write to the source meanwhile.
                """)
        @Option(help: "sqlite:DIR or postgresql://USER@HOST:PORT/DB?…") var from: String
        @Option(help: "sqlite:DIR or postgresql://USER@HOST:PORT/DB?… (empty)") var to: String
        @Option(help: "The password file (mode 0600) for a PostgreSQL --from (else PGPASSFILE).") var fromPasswordFile: String?
        @Option(help: "The password file (mode 0600) for a PostgreSQL --to (else PGPASSFILE).") var toPasswordFile: String?
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            do {
                let source = try StoreCopy.Endpoint(from, passwordFile: fromPasswordFile, option: "--from")
                let target = try StoreCopy.Endpoint(to, passwordFile: toPasswordFile, option: "--to")
                let result = try StoreCopy.run(from: source, to: target)
                if json { return try printJSON(result) }
                let total = result.rows.values.reduce(0, +)
                print("copied \(total) row(s) from \(result.from) to \(result.to); audit chain verified on both (seq 1–\(result.auditRows), \(result.checkpoints) checkpoint(s))")
            } catch { throw fail(error) }
        }
    }
}
