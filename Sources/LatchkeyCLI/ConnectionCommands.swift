import Foundation
import ArgumentParser
import LatchkeyAPI
import LatchkeyClient

struct ConnectionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connection", abstract: "Register the SCM servers (admin).",
        subcommands: [Add.self, List.self, Show.self, Remove.self, ConnectionSetCommand.self, Verify.self, CertificateAuthorityCommand.self, GitHubAppCommand.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register an SCM server.")
        @Argument(help: "A name for the connection.") var name: String
        @Option(help: "github-enterprise, gitlab or bitbucket-server.") var kind: String
        @Option(help: "The server's web URL (https://HOST).") var url: String
        @Option(help: "The REST API root (default: the server kind's usual path).") var apiUrl: String?
        @Option(help: "ssh://HOST:PORT for git over SSH (default port 22, 7999 for Bitbucket Server).") var sshUrl: String?
        @Option(help: "A PEM file of the CA certificates to trust for the server's API (default: the system's store).") var caFile: String?
        @OptionGroup var client: ClientOptions

        func run() throws {
            do {
                let c: ConnectionInfo = try client.client().call(
                    "POST", "/v1/connections",
                    body: ConnectionRequest(name: name, kind: kind, url: url, apiUrl: apiUrl, sshUrl: sshUrl, caFile: caFile.map(absolutePath)))
                if client.json { try printJSON(c) } else { print("added connection \(c.name) (\(c.kind)) api \(c.apiUrl) ssh \(c.sshUrl)") }
            } catch { throw fail(error) }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Ask the server who the connection's token belongs to and whether it may do what the projects need.")
        @Argument var name: String
        @OptionGroup var client: ClientOptions

        func run() throws {
            do {
                let r: ConnectionVerifyResult = try client.client().call("POST", "/v1/connections/\(pathComponent(name))/verify")
                if client.json { try printJSON(r) } else {
                    print("connection: \(r.connection)\nuser:       \(r.user)\nscopes:     \(r.scopes.map { $0.isEmpty ? "(none)" : $0.joined(separator: ", ") } ?? "(not listed by the server)")\nexpires:    \(r.expiresAt ?? "(not reported)")")
                    for n in r.notes { print("note:       \(n)") }
                    print(r.ok ? "ok:         the token may do what the projects need" : "missing:    \(r.missing.joined(separator: "; "))")
                }
                if !r.ok { throw ExitCode(1) }
            } catch { throw fail(error) }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List connections.")
        @OptionGroup var client: ClientOptions
        func run() throws {
            do {
                let list: [ConnectionInfo] = try client.client().call("GET", "/v1/connections")
                if client.json { return try printJSON(list) }
                printTable(["NAME", "KIND", "URL", "SSH", "PROJECTS"], list.map { [$0.name, $0.kind, $0.url, $0.sshUrl, String($0.projects.count)] })
            } catch { throw fail(error) }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one connection.")
        @Argument var name: String
        @OptionGroup var client: ClientOptions
        func run() throws {
            do {
                let c: ConnectionInfo = try client.client().call("GET", "/v1/connections/\(pathComponent(name))")
                if client.json { return try printJSON(c) }
                print("name:     \(c.name)\nkind:     \(c.kind)\nurl:      \(c.url)\napi:      \(c.apiUrl)\nssh:      \(c.sshUrl)\nca file:  \(c.caFile ?? "(system store)")\ncreated:  \(c.createdAt)\nprojects: \(c.projects.joined(separator: ", "))")
                let certs: CertificateSettingsInfo = try client.client().call("GET", "/v1/connections/\(pathComponent(name))/certificate-settings")
                print("""
                    cert principals: \(certs.principals.isEmpty ? "(none: ssh-cert sessions are refused)" : certs.principals.joined(separator: ","))
                    cert extensions: \(certs.extensions.isEmpty ? "(none)" : certs.extensions.joined(separator: ","))
                    cert key id:     \(certs.keyIdUsername ?? "latchkey:PROJECT:SESSION:BUILD")
                    last serial:     \(certs.lastSerial)
                    """)
            } catch { throw fail(error) }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a connection no project uses (its tokens and CA versions are destroyed).")
        @Argument var name: String
        @OptionGroup var client: ClientOptions
        func run() throws {
            do {
                let r: RemovalResult = try client.client().call("DELETE", "/v1/connections/\(pathComponent(name))")
                if client.json { return try printJSON(r) }
                print("removed connection \(r.removed); destroyed \(r.destroyedVersions) token and CA version(s)")
            } catch { throw fail(error) }
        }
    }
}

/// Percent-encodes a name for a URL path segment.
func pathComponent(_ s: String) -> String {
    s.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "-._~"))) ?? s
}

/// A path made absolute against the working directory (the daemon reads it, not the CLI).
func absolutePath(_ p: String) -> String {
    p.hasPrefix("/") ? p : FileManager.default.currentDirectoryPath + "/" + p
}
