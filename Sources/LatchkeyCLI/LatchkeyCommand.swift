// LatchkeyCLI: the `latchkey` command. `init` and `serve` work on the store directly;
// every other command is a client of the running daemon over its Unix socket.
// Exit codes follow sysexits.h (`ExitStatus`); every command has `--json`.
public import ArgumentParser

public struct LatchkeyCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "latchkey",
        abstract: "A secrets vault and key-management daemon for CI builds.",
        discussion: """
            Admins register SCM connections, projects, deploy keys and tokens; runners open
            build sessions; builds redeem them; auditors read and verify the audit log.
            The daemon listens on a Unix socket (default Keys/latchkey.sock).
            """,
        version: "0.1.0",
        subcommands: [
            InitCommand.self, ServeCommand.self, HealthCommand.self, ConnectionCommand.self, ProjectCommand.self,
            DeployKeyCommand.self, WebhookCommand.self, TokenCommand.self, IntakeKeyCommand.self, MasterKeyCommand.self, SessionCommand.self,
            FetchCommand.self, AgentCommand.self, ExecCommand.self, BenchCommand.self, AuditCommand.self, PolicyCommand.self,
            BackupCommand.self, RestoreCommand.self, MetricsCommand.self, StoreCommand.self,
        ])

    public init() {}
}

extension LatchkeyCommand {
    /// Parses the arguments and runs the chosen subcommand, async ones included.
    public static func entry() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
