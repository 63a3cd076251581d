import ArgumentParser
import Foundation
import LatchkeyPolicy

struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "policy", abstract: "Policy files.", subcommands: [Check.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a policy directory without a daemon: prints file:line: reason for the first error.")
        @Argument(help: "The policy directory (default Policies).") var directory = "Policies"
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            do {
                let p = try Policy.load(directory: directory, daemonUID: getuid())
                if json {
                    try printJSON(["status": "ok", "files": p.files.joined(separator: ",")])
                } else {
                    print("ok: \(p.files.count) file(s): \(p.files.joined(separator: ", "))")
                }
            } catch let e as PolicyError {
                if json { try? printJSON(["status": "error", "code": e.code, "error": e.description]) }
                printError(e.description)
                throw ExitCode(ExitStatus.config.rawValue)
            }
        }
    }
}
