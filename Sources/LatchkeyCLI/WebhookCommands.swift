import ArgumentParser
import LatchkeyAPI
import LatchkeyClient
import Foundation

/// `latchkey webhook …`: webhooks Latchkey installs on a project's repository, with a
/// secret it keeps (admin), and `verify` for the CI's webhook receiver.
struct WebhookCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "webhook",
        abstract: "Webhooks on the project's repository whose secret Latchkey keeps; the receiver asks Latchkey to verify deliveries.",
        subcommands: [Install.self, List.self, Show.self, Rotate.self, Remove.self, Verify.self])

    static func printHook(_ h: WebhookInfo, json: Bool) throws {
        if json { return try printJSON(h) }
        print("project:    \(h.project)")
        print("repository: \(h.repository) on \(h.connection)")
        print("url:        \(h.url)")
        print("events:     \(h.events.joined(separator: ", "))")
        print("state:      \(stateText(h))")
        print("secret:     " + h.versions.filter { $0.state != "revoked" }.map { "v\($0.version) \($0.state)\($0.retireAt.map { " until \($0)" } ?? "")" }.joined(separator: ", "))
    }

    static func stateText(_ h: WebhookInfo) -> String {
        var s = h.state + (h.serverHookId.map { " (id \($0))" } ?? "")
        switch h.state {
        case "removing": s = "removal pending" + (h.serverHookId.map { " (id \($0))" } ?? "")
        case "updating": s = "new secret being set on the server" + (h.serverHookId.map { " (id \($0))" } ?? "")
        default: break
        }
        if let e = h.lastError, h.state != "installed" { s += ": failed: \(e.prefix(160))" }
        return s
    }

    struct Install: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate a webhook secret, seal it, and create the hook on the project's repository through the server's API.")
        @Argument var project: String
        @Option(help: "Where the server delivers: the CI's webhook receiver (https://…).") var url: String
        @Option(parsing: .upToNextOption, help: "Events: push (default), pull_request, tag.") var events: [String] = []
        @OptionGroup var client: ClientOptions
        func run() throws {
            do {
                let h: WebhookInfo = try client.client().call(
                    "POST", "/v1/projects/\(pathComponent(project))/webhook", body: WebhookInstallRequest(url: url, events: events.isEmpty ? nil : events))
                try printHook(h, json: client.json)
            } catch { throw fail(error) }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the webhooks Latchkey installed (all projects, or one).")
        @Argument var project: String?
        @OptionGroup var client: ClientOptions
        func run() throws {
            do {
                var hooks: [WebhookInfo] = try client.client().call("GET", "/v1/webhooks")
                if let project { hooks = hooks.filter { $0.project == project } }
                if client.json { return try printJSON(hooks) }
                printTable(["PROJECT", "REPOSITORY", "URL", "EVENTS", "SECRET", "ON SERVER"], hooks.map { h in
                    [h.project, h.repository, h.url, h.events.joined(separator: ","),
                     h.versions.filter { $0.state != "revoked" }.map { "v\($0.version) \($0.state)" }.joined(separator: ", "), stateText(h)]
                })
            } catch { throw fail(error) }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a project's webhook and its secret's versions (never the secret).")
        @Argument var project: String
        @OptionGroup var client: ClientOptions
        func run() throws {
            do {
                try printHook(try client.client().call("GET", "/v1/projects/\(pathComponent(project))/webhook"), json: client.json)
            } catch { throw fail(error) }
        }
    }

    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set a new secret on the hook (the server's update call); the previous one still verifies for the grace.")
        @Argument var project: String
        @Option(help: "How long deliveries signed with the previous secret still verify (default 1h; 0s ends it at once).") var grace = "1h"
        @OptionGroup var client: ClientOptions
        func run() throws {
            let g = try seconds(grace, option: "--grace")
            do {
                let h: WebhookInfo = try client.client().call(
                    "POST", "/v1/projects/\(pathComponent(project))/webhook/rotate", body: WebhookRotateRequest(graceSeconds: g))
                try printHook(h, json: client.json)
            } catch { throw fail(error) }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete the hook on the server, then its record and every version of its secret.")
        @Argument var project: String
        @OptionGroup var client: ClientOptions
        func run() throws {
            do {
                let h: WebhookInfo = try client.client().call("DELETE", "/v1/projects/\(pathComponent(project))/webhook")
                if client.json { return try printJSON(h) }
                print("removed the webhook of \(h.project) from \(h.repository); its secret is destroyed")
            } catch { throw fail(error) }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify a delivery (webhook receiver): its raw body on standard input, the server's signature header as it came.",
            discussion: """
                latchkey webhook verify web --header 'X-Hub-Signature-256: sha256=…' < delivery.json
                Exits 0 and prints the version for a genuine delivery; exits 77 for a forged one.
                """)
        @Argument var project: String
        @Option(help: "A header of the delivery, as 'NAME: VALUE' (X-Hub-Signature-256, X-Gitlab-Token or X-Hub-Signature).")
        var header: [String] = []
        @Option(
            help: "Read the headers from this file, one 'NAME: VALUE' a line (for GitLab's X-Gitlab-Token, which is the secret itself: argv is visible to every user).")
        var headerFile: String?
        @OptionGroup var client: ClientOptions

        /// Most bytes of a --header-file.
        static let maxHeaderFileBytes = 16 * 1024

        /// The body read whole, at most the route's limit (1 MiB) plus one byte to tell.
        static let maxBodyBytes = 1 << 20

        func run() throws {
            do {
                var headers: [(String, String)] = []
                var lines = header
                if let headerFile {
                    guard let data = FileManager.default.contents(atPath: headerFile) else {
                        throw InputError("cannot read --header-file \(headerFile)")
                    }
                    guard data.count <= Self.maxHeaderFileBytes, let text = String(data: data, encoding: .utf8) else {
                        throw InputError("--header-file \(headerFile) is not UTF-8 text of at most \(Self.maxHeaderFileBytes) bytes")
                    }
                    lines += text.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
                }
                for h in lines {
                    guard let colon = h.firstIndex(of: ":") else { throw InputError("--header '\(h.prefix(80))' is not 'NAME: VALUE'") }
                    let name = h[..<colon].trimmingCharacters(in: .whitespaces)
                    let value = h[h.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                    let token = name.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && !"()<>@,;:\\\"/[]?={}".utf8.contains($0) }
                    guard !name.isEmpty, token, !value.contains("\r"), !value.contains("\n") else {
                        throw InputError("--header '\(h.prefix(80))' is not a header a delivery carries")
                    }
                    headers.append((name, value))
                }
                var body = [UInt8]()
                var chunk = [UInt8](repeating: 0, count: 65536)
                while true {
                    let n = read(STDIN_FILENO, &chunk, chunk.count)
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else { break }
                    body += chunk[0..<n]
                    guard body.count <= Self.maxBodyBytes else {
                        throw InputError("the delivery on standard input is over \(Self.maxBodyBytes) bytes, the most Latchkey verifies")
                    }
                }
                let answer = try client.client().call("POST", "/v1/projects/\(pathComponent(project))/webhook/verify", body: body, headers: headers)
                let r = try JSONDecoder().decode(WebhookVerifyResult.self, from: Data(answer))
                if client.json { return try printJSON(r) }
                print("valid: signed with v\(r.version) of the webhook secret of \(project)")
            } catch { throw fail(error) }
        }
    }
}
