import ArgumentParser
import LatchkeyAPI
import LatchkeyClient

struct ProjectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "project", abstract: "Register repositories (admin).", subcommands: [Add.self, Change.self, List.self, Show.self, Remove.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a project: a repository on a connection.")
        @Argument(help: "Project name: letters, digits, '.', '_' or '-'.") var name: String
        @Option(help: "The connection it lives on.") var connection: String
        @Option(help: "owner/repo (GitHub Enterprise), group/subgroup/repo (GitLab), PROJECTKEY/repo-slug (Bitbucket Server).") var repo: String
        @Flag(help: "Latchkey installs the project's deploy keys on the repository (and removes old versions) through the server's API.")
        var installDeployKey = false
        @Flag(help: "With --install-deploy-key: the installed keys may push.") var write = false
        @OptionGroup var client: ClientOptions
        func run() throws {
            do {
                let p: ProjectInfo = try client.client().call(
                    "POST", "/v1/projects",
                    body: ProjectRequest(name: name, connection: connection, repo: repo, installDeployKey: installDeployKey ? true : nil, deployKeyWrite: write ? true : nil))
                if client.json { return try printJSON(p) }
                print("added project \(p.name) (\(p.connection): \(p.repo)); next: latchkey deploy-key create \(p.name)")
            } catch { throw fail(error) }
        }
    }

    struct Change: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set", abstract: "Change a project's settings.")
        @Argument var name: String
        @Flag(inversion: .prefixedNo, help: "Latchkey installs the project's deploy keys on the repository through the server's API.")
        var installDeployKey: Bool?
        @Flag(help: "The installed keys may push (read-only otherwise).") var write = false
        @OptionGroup var client: ClientOptions
        func run() throws {
            do {
                let p: ProjectInfo = try client.client().call(
                    "PATCH", "/v1/projects/\(pathComponent(name))", body: ProjectUpdateRequest(installDeployKey: installDeployKey, deployKeyWrite: write))
                if client.json { return try printJSON(p) }
                print("project \(p.name): deploy keys \(p.installDeployKey == true ? "installed by Latchkey (\(p.deployKeyWrite == true ? "read-write" : "read-only"))" : "installed by hand")")
            } catch { throw fail(error) }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List projects.")
        @OptionGroup var client: ClientOptions
        func run() throws {
            do {
                let list: [ProjectInfo] = try client.client().call("GET", "/v1/projects")
                if client.json { return try printJSON(list) }
                printTable(["NAME", "CONNECTION", "REPO", "KEY", "SESSIONS"], list.map {
                    [$0.name, $0.connection, $0.repo, $0.deployKey.map { "v\($0.version) \($0.type)" } ?? "-", String($0.liveSessions)]
                })
            } catch { throw fail(error) }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one project.")
        @Argument var name: String
        @OptionGroup var client: ClientOptions
        func run() throws {
            do {
                let p: ProjectInfo = try client.client().call("GET", "/v1/projects/\(pathComponent(name))")
                if client.json { return try printJSON(p) }
                print("name:       \(p.name)\nconnection: \(p.connection)\nrepo:       \(p.repo)\ncreated:    \(p.createdAt)\nsessions:   \(p.liveSessions) live")
                if let k = p.deployKey { print("deploy key: v\(k.version) \(k.type) \(k.fingerprint)\n\(k.publicKey)") } else { print("deploy key: none") }
            } catch { throw fail(error) }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a project and destroy its keys (its audit history stays).")
        @Argument var name: String
        @Flag(help: "Remove even while sessions are live (they end).") var force = false
        @OptionGroup var client: ClientOptions
        func run() throws {
            do {
                let r: RemovalResult = try client.client().call("DELETE", "/v1/projects/\(pathComponent(name))\(force ? "?force=true" : "")")
                if client.json { return try printJSON(r) }
                print("removed project \(r.removed); destroyed \(r.destroyedVersions) key version(s); ended \(r.endedSessions) session(s)")
            } catch { throw fail(error) }
        }
    }
}
