import ArgumentParser
import Foundation
import LatchkeyAPI
import LatchkeyClient

/// `latchkey connection ca …` (admin): the connection's SSH certificate authority.
struct CertificateAuthorityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ca",
        abstract: "The connection's SSH certificate authority (admin). Its private key is never shown.",
        discussion: """
            Servers trust the CA, not each build's key: put the line `ca show` prints into sshd's
            TrustedUserCAKeys (GitLab self-managed, any OpenSSH server) or into a GitHub Enterprise
            organisation's SSH certificate authorities. Sessions with the ssh-cert grant then get a
            certificate that expires with the session.
            """,
        subcommands: [Create.self, Show.self, Rotate.self, Revoke.self])

    static func printCA(_ ca: CertificateAuthorityInfo, json: Bool) throws {
        if json { return try printJSON(ca) }
        print(ca.publicKey)
        // The facts go to stderr so `ca create NAME > ca.pub` leaves just the line in the file.
        FileHandle.standardError.write(
            Data("\(ca.fingerprint) (\(ca.type), v\(ca.version), \(ca.state)\(ca.retireAt.map { " until \($0)" } ?? ""))\n".utf8))
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make the connection's CA; prints its public key line.")
        @Argument var connection: String
        @Option(help: "ed25519 (default), ecdsa-p256 or rsa-3072.") var type = "ed25519"
        @OptionGroup var client: ClientOptions
        func run() throws {
            do {
                try printCA(
                    try client.client().call("POST", "/v1/connections/\(pathComponent(connection))/ca", body: CertificateAuthorityRequest(type: type)),
                    json: client.json)
            } catch { throw fail(error) }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the public key line of every version that still signs (one per line, for TrustedUserCAKeys).")
        @Argument var connection: String
        @Flag(help: "Every version, revoked ones too, as a table.") var all = false
        @OptionGroup var client: ClientOptions
        func run() throws {
            do {
                let list: [CertificateAuthorityInfo] = try client.client().call("GET", "/v1/connections/\(pathComponent(connection))/ca")
                if client.json { return try printJSON(all ? list : list.filter { $0.state != "revoked" }) }
                if all {
                    return printTable(["VERSION", "TYPE", "FINGERPRINT", "STATE", "CREATED"], list.map {
                        ["v\($0.version)", $0.type, $0.fingerprint, $0.state + ($0.retireAt.map { " until \($0)" } ?? ""), $0.createdAt]
                    })
                }
                for ca in list where ca.state != "revoked" { print(ca.publicKey) }
            } catch { throw fail(error) }
        }
    }

    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make CA version N+1; N keeps signing for the grace, then is revoked. Trust both lines on the servers first.")
        @Argument var connection: String
        @Option(help: "How long the previous version keeps signing (default 1h; 0s revokes it at once).") var grace = "1h"
        @Option(help: "Key type of the new version (default ed25519).") var type = "ed25519"
        @OptionGroup var client: ClientOptions
        func run() throws {
            let g = try seconds(grace, option: "--grace")
            do {
                try printCA(
                    try client.client().call(
                        "POST", "/v1/connections/\(pathComponent(connection))/ca/rotate", body: CertificateAuthorityRequest(type: type, graceSeconds: g)),
                    json: client.json)
            } catch { throw fail(error) }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke CA versions at once (default: every one); ends the sessions holding their certificates.",
            discussion: "Certificates already handed out stay valid on servers that trust the CA until they expire: remove the line from TrustedUserCAKeys too.")
        @Argument var connection: String
        @Option var version: Int64?
        @OptionGroup var client: ClientOptions
        func run() throws {
            do {
                let r: RevokeResult = try client.client().call(
                    "POST", "/v1/connections/\(pathComponent(connection))/ca/revoke", body: RevokeRequest(version: version))
                if client.json { return try printJSON(r) }
                print("revoked \(r.revokedVersions.map { "v\($0)" }.joined(separator: ", ")); ended \(r.endedSessions) session(s)")
            } catch { throw fail(error) }
        }
    }
}

/// `latchkey connection set NAME …` (admin): what the connection's certificates say.
struct ConnectionSetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set",
        abstract: "Change a connection's settings: the CA its API is trusted by, what its SSH certificates say.",
        discussion: """
            Each option given replaces what was stored; options left out keep their value.
            --ca-file PEM: the CA certificates the daemon trusts for the server's API (an
            internal CA); --ca-file '' goes back to the system's CA store.
            GitHub Enterprise: --cert-principal git --cert-extension login@HOST=USER.
            GitLab self-managed: --cert-principal git --cert-key-id-username USER.
            No permit-pty or forwarding extension is included unless named here.
            """)
    @Argument var connection: String
    @Option(help: "A principal (login name) the certificates are valid for; repeat for more.") var certPrincipal: [String] = []
    @Option(help: "An extension, NAME or NAME=VALUE (login@HOST=USER, permit-pty); repeat for more.") var certExtension: [String] = []
    @Flag(help: "Remove every extension.") var clearCertExtensions = false
    @Option(help: "Use this username as the key id (GitLab); '' goes back to latchkey:PROJECT:SESSION:BUILD.") var certKeyIdUsername: String?
    @Option(help: "A PEM file of the CA certificates to trust for the server's API; '' for the system's store.") var caFile: String?
    @OptionGroup var client: ClientOptions

    var certificateOptions: Bool { !certPrincipal.isEmpty || !certExtension.isEmpty || clearCertExtensions || certKeyIdUsername != nil }

    func validate() throws {
        if clearCertExtensions && !certExtension.isEmpty { throw ValidationError("--clear-cert-extensions and --cert-extension exclude each other") }
        if !certificateOptions && caFile == nil {
            throw ValidationError("give at least one of --ca-file, --cert-principal, --cert-extension, --clear-cert-extensions, --cert-key-id-username")
        }
    }

    func run() throws {
        if let caFile {
            do {
                let c: ConnectionInfo = try client.client().call(
                    "PATCH", "/v1/connections/\(pathComponent(connection))",
                    body: ConnectionUpdateRequest(caFile: caFile.isEmpty ? "" : absolutePath(caFile)))
                if client.json && !certificateOptions { return try printJSON(c) }
                if !client.json { print("connection \(c.name) trusts \(c.caFile ?? "the system's CA store") for its API") }
            } catch { throw fail(error) }
            guard certificateOptions else { return }
        }
        let body = CertificateSettingsRequest(
            principals: certPrincipal.isEmpty ? nil : certPrincipal,
            extensions: clearCertExtensions ? [] : (certExtension.isEmpty ? nil : certExtension), keyIdUsername: certKeyIdUsername)
        do {
            let s: CertificateSettingsInfo = try client.client().call(
                "PATCH", "/v1/connections/\(pathComponent(connection))/certificate-settings", body: body)
            if client.json { return try printJSON(s) }
            print("connection \(s.connection): principals \(s.principals.joined(separator: ",")); extensions \(s.extensions.isEmpty ? "(none)" : s.extensions.joined(separator: ",")); key id \(s.keyIdUsername ?? "latchkey:PROJECT:SESSION:BUILD")")
        } catch { throw fail(error) }
    }
}

/// `latchkey fetch ssh-cert --out DIR` (build): the session key and its certificate as files.
struct FetchSSHCertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ssh-cert",
        abstract: "Write the session's key (id_ed25519) and certificate (id_ed25519-cert.pub), mode 0600, into DIR.",
        discussion: "ssh picks the certificate up beside the key: `ssh -i DIR/id_ed25519 …`. Both stop working when the session expires.")
    @Option(help: "An existing directory; the two files are created there (refused if either exists).") var out: String
    @OptionGroup var session: SessionTokenOptions
    @OptionGroup var client: ClientOptions

    func run() throws {
        disableCoreDumps()
        do {
            let c: ReleasedSSHCertificate = try client.client().call("GET", "/v1/session/ssh-cert", bearer: session.token())
            let (key, cert) = try Self.write(c, into: out)
            if client.json {
                try printJSON([
                    "key": key, "certificate": cert, "serial": String(c.serial), "keyId": c.keyId, "validBefore": c.validBefore,
                ])
            } else {
                print("wrote \(key) and \(cert) (serial \(c.serial), key id \(c.keyId), valid until \(c.validBefore))")
            }
        } catch { throw fail(error) }
    }

    /// Creates `DIR/id_ed25519` and `DIR/id_ed25519-cert.pub` exclusively, mode 0600.
    static func write(_ c: ReleasedSSHCertificate, into dir: String) throws -> (key: String, certificate: String) {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw InputError("--out \(dir) is not a directory; create it first")
        }
        let key = dir + "/id_ed25519"
        let cert = dir + "/id_ed25519-cert.pub"
        try writeExclusive(path: key, contents: Array(c.privateKey.utf8))
        do {
            try writeExclusive(path: cert, contents: Array((c.certificate + "\n").utf8))
        } catch {
            unlink(key)
            throw error
        }
        return (key, cert)
    }
}
