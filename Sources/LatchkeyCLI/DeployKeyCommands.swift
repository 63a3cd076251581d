import ArgumentParser
import LatchkeyAPI
import LatchkeyClient

struct DeployKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deploy-key", abstract: "Per-project SSH deploy keys (admin). Private keys are never shown.",
        subcommands: [Create.self, Show.self, List.self, Rotate.self, Revoke.self, Install.self, Uninstall.self])

    static func printKey(_ k: DeployKeyInfo, json: Bool) throws {
        if json { return try printJSON(k) }
        print(k.publicKey)
        print("\(k.fingerprint) (\(k.type), \(k.bits) bits, v\(k.version), \(k.state)\(k.retireAt.map { " until \($0)" } ?? ""))")
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Generate the project's deploy key; prints its public key.")
        @Argument var project: String
        @Option(help: "ed25519 (default), ecdsa-p256, rsa-3072 or rsa-4096.") var type = "ed25519"
        @OptionGroup var client: ClientOptions
        func run() throws {
            do {
                try printKey(try client.client().call("POST", "/v1/projects/\(pathComponent(project))/deploy-keys", body: DeployKeyRequest(type: type)), json: client.json)
            } catch { throw fail(error) }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a version's public key (default: the active one).")
        @Argument var project: String
        @Option var version: Int64?
        @OptionGroup var client: ClientOptions
        func run() throws {
            do {
                try printKey(try client.client().call("GET", "/v1/projects/\(pathComponent(project))/deploy-keys/\(version.map(String.init) ?? "current")"), json: client.json)
            } catch { throw fail(error) }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a project's key versions.")
        @Argument var project: String
        @OptionGroup var client: ClientOptions
        func run() throws {
            do {
                let list: [DeployKeyInfo] = try client.client().call("GET", "/v1/projects/\(pathComponent(project))/deploy-keys")
                if client.json { return try printJSON(list) }
                printTable(["VERSION", "TYPE", "FINGERPRINT", "STATE", "ON SERVER", "CREATED"], list.map {
                    ["v\($0.version)", $0.type, $0.fingerprint, $0.state + ($0.retireAt.map { " until \($0)" } ?? ""), installState($0.install), $0.createdAt]
                })
            } catch { throw fail(error) }
        }
    }

    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make version N+1 active; N stays usable for the grace, then is revoked.")
        @Argument var project: String
        @Option(help: "How long the previous version stays usable (default 1h; 0s revokes it at once).") var grace = "1h"
        @Option(help: "Key type of the new version (default ed25519).") var type = "ed25519"
        @OptionGroup var client: ClientOptions
        func run() throws {
            let g = try seconds(grace, option: "--grace")
            do {
                try printKey(try client.client().call("POST", "/v1/projects/\(pathComponent(project))/deploy-keys/rotate", body: DeployKeyRequest(type: type, graceSeconds: g)), json: client.json)
            } catch { throw fail(error) }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke at once (default: every version not yet revoked); ends the sessions holding it.")
        @Argument var project: String
        @Option var version: Int64?
        @OptionGroup var client: ClientOptions
        func run() throws {
            do {
                let r: RevokeResult = try client.client().call("POST", "/v1/projects/\(pathComponent(project))/deploy-keys/revoke", body: RevokeRequest(version: version))
                if client.json { return try printJSON(r) }
                print("revoked \(r.revokedVersions.map { "v\($0)" }.joined(separator: ", ")); ended \(r.endedSessions) session(s)")
            } catch { throw fail(error) }
        }
    }

    struct Install: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Install a key version (default: the active one) on the project's repository through the server's API.")
        @Argument var project: String
        @Option var version: Int64?
        @OptionGroup var client: ClientOptions
        func run() throws { try changeInstall("install", project: project, version: version, client: client) }
    }

    struct Uninstall: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a key version (default: the active one) from the project's repository; retried later if the server fails.")
        @Argument var project: String
        @Option var version: Int64?
        @OptionGroup var client: ClientOptions
        func run() throws { try changeInstall("uninstall", project: project, version: version, client: client) }
    }
}

/// `deploy-key install|uninstall`: one call to the route of that name, then the version's state.
private func changeInstall(_ verb: String, project: String, version: Int64?, client: ClientOptions) throws {
    do {
        let k: DeployKeyInfo = try client.client().call(
            "POST", "/v1/projects/\(pathComponent(project))/deploy-keys/\(verb)", body: RevokeRequest(version: version))
        if client.json { return try printJSON(k) }
        print("v\(k.version) of \(k.project): \(installState(k.install))")
    } catch { throw fail(error) }
}

/// `installed (id 1042)`, `removing (attempt 2 at …: why)`, `removed`, or `-`.
func installState(_ i: DeployKeyInstallInfo?) -> String {
    guard let i else { return "-" }
    switch i.state {
    case "installed": return "installed (id \(i.serverKeyId))"
    case "removing":
        return "removal pending" + (i.nextAttemptAt.map { " (next try \($0))" } ?? "") + (i.lastError.map { ": failed: \($0.prefix(120))" } ?? "")
    default: return i.state
    }
}
