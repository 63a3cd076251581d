import ArgumentParser
import Foundation
import LatchkeyAPI
import LatchkeyClient
import LatchkeyCrypto

/// `latchkey connection app put|list|revoke`: a GitHub Enterprise connection's GitHub App,
/// whose key mints the `repo-token` grant's installation tokens.
struct GitHubAppCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "app",
        abstract: "A GitHub Enterprise connection's GitHub App (admin): its private key mints per-session repository tokens.",
        subcommands: [Put.self, List.self, Revoke.self])

    struct Put: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Store a new version of the App's private key, read from stdin (the PEM GitHub generated); sealed before it leaves this process.")
        @Argument var connection: String
        @Option(help: "The App's id (its settings page shows it).") var appId: String
        @Option(help: "The installation to mint from (default: found per repository).") var installationId: String?
        @Option(help: "How long the previous version stays usable (default 1h).") var grace = "1h"
        @OptionGroup var client: ClientOptions

        func run() throws {
            let g = try seconds(grace, option: "--grace")
            do {
                let c = try client.client()
                let intake: IntakeKey = try c.call("GET", "/v1/intake-key")
                guard let pk = Data(base64Encoded: intake.publicKey), pk.count == IntakeKeyPair.publicKeyBytes else {
                    throw InputError("the daemon's intake public key is not base64 of 32 bytes")
                }
                let pem = try readSecretFromStdin(prompt: "GitHub App private key (PEM): ", limit: 16 * 1024)
                guard pem.count > 0 else { throw InputError("no private key on standard input; pipe the PEM file: < app-private-key.pem") }
                let blob = Data(IntakeKeyPair.seal(pem, to: Array(pk))).base64EncodedString()
                let info: GitHubAppInfo = try c.call(
                    "POST", "/v1/connections/\(pathComponent(connection))/app",
                    body: GitHubAppPutRequest(appId: appId, installationId: installationId, sealedKey: blob, graceSeconds: g))
                if client.json { return try printJSON(info) }
                print("stored GitHub App \(info.appId) key v\(info.version) for \(info.connection) (RSA \(info.bits), \(info.fingerprint))")
            } catch { throw fail(error) }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the App key's versions (never the key).")
        @Argument var connection: String
        @OptionGroup var client: ClientOptions
        func run() throws {
            do {
                let list: [GitHubAppInfo] = try client.client().call("GET", "/v1/connections/\(pathComponent(connection))/app")
                if client.json { return try printJSON(list) }
                printTable(["VERSION", "APP", "INSTALLATION", "FINGERPRINT", "STATE", "CREATED"], list.map {
                    ["v\($0.version)", $0.appId, $0.installationId ?? "(per repository)", $0.fingerprint, $0.state + ($0.retireAt.map { " until \($0)" } ?? ""), $0.createdAt]
                })
            } catch { throw fail(error) }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a version (default: every live one) now; sessions whose tokens it minted end, and their tokens are revoked on the server.")
        @Argument var connection: String
        @Option(help: "The version to revoke.") var version: Int64?
        @OptionGroup var client: ClientOptions
        func run() throws {
            do {
                let r: RevokeResult = try client.client().call(
                    "POST", "/v1/connections/\(pathComponent(connection))/app/revoke", body: RevokeRequest(version: version))
                if client.json { return try printJSON(r) }
                print("revoked App key version(s) \(r.revokedVersions.map { "v\($0)" }.joined(separator: ", ")); ended \(r.endedSessions) session(s)")
            } catch { throw fail(error) }
        }
    }
}

/// `latchkey fetch repo-token`: the session's minted repository token.
struct FetchRepoTokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repo-token",
        abstract: "Print the token minted on the SCM server for this session (the repository on the first line, the token on the second; or --json).")
    @OptionGroup var session: SessionTokenOptions
    @OptionGroup var client: ClientOptions

    func run() throws {
        disableCoreDumps()
        do {
            let t: ReleasedRepoToken = try client.client().call("GET", "/v1/session/repo-token", bearer: session.token())
            if client.json { return try printJSON(t) }
            print(t.repository)
            print(t.token)
        } catch { throw fail(error) }
    }
}

/// The minted-token table `session list` and `token list --minted` print.
func printMintedTokens(_ list: [MintedTokenInfo]) {
    printTable(["SESSION", "PROJECT", "REPOSITORY", "SERVER ID", "PERMISSIONS", "EXPIRES", "STATE"], list.map { m in
        let state: String
        switch m.state {
        case "revoking": state = "revocation pending" + (m.attempts > 0 ? " (\(m.attempts) failed; next \(m.nextAttemptAt ?? "soon")\(m.lastError.map { ": \($0)" } ?? ""))" : "")
        default: state = m.state
        }
        return [m.sessionId, m.project, m.repository, m.serverTokenId, m.permissions.joined(separator: ","), m.expiresAt, state]
    })
}
