import ArgumentParser
import Foundation
import LatchkeyAPI
import LatchkeyClient
import LatchkeyCrypto

struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "SCM access tokens (admin). Tokens are read from stdin and sealed before they leave this process.",
        subcommands: [Put.self, Seal.self, List.self, Revoke.self])

    struct Put: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Store a new token version for a connection (read from stdin, or a blob from `token seal`).")
        @Argument var connection: String
        @Option(help: "The account the token belongs to.") var username: String?
        @Option(help: "token (default) or oauth-client.") var kind = "token"
        @Option(help: "The OAuth application's client id (with --kind oauth-client).") var clientId: String?
        @Option(help: "Comma-separated scopes, for the record.") var scopes: String?
        @Option(help: "Expiry date YYYY-MM-DD (UTC); never released from that day on.") var expires: String?
        @Option(help: "How long the previous version stays usable (default 1h).") var grace = "1h"
        @Option(help: "A file holding a blob made by `latchkey token seal` (instead of stdin).") var sealed: String?
        @Flag(help: "Store the token without asking the server about it first (by default a token the server rejects is refused).")
        var noVerify = false
        @OptionGroup var client: ClientOptions

        func run() throws {
            let g = try seconds(grace, option: "--grace")
            do {
                let c = try client.client()
                let blob: String
                if let sealed {
                    guard let text = try? String(contentsOfFile: sealed, encoding: .utf8) else {
                        throw InputError("cannot read --sealed \(sealed)")
                    }
                    blob = text.trimmingCharacters(in: .whitespacesAndNewlines)
                } else {
                    let intake: IntakeKey = try c.call("GET", "/v1/intake-key")
                    blob = try sealToIntake(publicKeyBase64: intake.publicKey)
                }
                let request = TokenPutRequest(
                    kind: kind, username: username, clientId: clientId,
                    scopes: scopes.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }, expires: expires,
                    sealedToken: blob, graceSeconds: g, verify: noVerify ? false : nil)
                let info: TokenInfo = try c.call("POST", "/v1/connections/\(pathComponent(connection))/tokens", body: request)
                for w in info.warnings { printError("warning: \(w)") }
                if client.json { return try printJSON(info) }
                print("stored \(info.kind) v\(info.version) for \(info.connection) (\(info.fingerprint))")
                if let v = info.verification {
                    print("verified:   \(verificationSummary(v))")
                    if let user = v.user { print("user:       \(user)") }
                    if let scopes = v.scopes { print("scopes:     \(scopes.isEmpty ? "(none)" : scopes.joined(separator: ", "))") }
                } else if info.kind == "token" {
                    print("verified:   no (--no-verify)")
                }
                if let e = info.expires {
                    let origin =
                        if let given = info.expiresGiven { " (the server's; --expires said \(given))" }
                        else if info.verification?.expiresAt != nil { " (as the server reports)" }
                        else { "" }
                    print("expires:    \(e)\(origin)")
                }
            } catch { throw fail(error) }
        }
    }

    struct Seal: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Seal a token from stdin to an intake public key, offline; prints base64 for `token put --sealed`.")
        @Option(help: "A file holding the daemon's intake public key (as `latchkey intake-key` prints it).") var intakeKey: String

        func run() throws {
            do {
                guard let text = try? String(contentsOfFile: intakeKey, encoding: .utf8) else { throw InputError("cannot read --intake-key \(intakeKey)") }
                print(try sealToIntake(publicKeyBase64: text.trimmingCharacters(in: .whitespacesAndNewlines)))
            } catch { throw fail(error) }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List token versions (never the tokens).")
        @Argument var connection: String?
        @Flag(help: "List the repository tokens minted for sessions instead: live ones and pending revocations.") var minted = false
        @Flag(help: "With --minted: the revoked ones too.") var all = false
        @OptionGroup var client: ClientOptions
        func run() throws {
            do {
                if minted {
                    var list: [MintedTokenInfo] = try client.client().call("GET", "/v1/minted-tokens" + (all ? "?all=1" : ""))
                    if let connection { list = list.filter { $0.connection == connection } }
                    if client.json { return try printJSON(list) }
                    return printMintedTokens(list)
                }
                let list: [TokenInfo] = try client.client().call("GET", "/v1/tokens" + (connection.map { "?connection=\(pathComponent($0))" } ?? ""))
                if client.json { return try printJSON(list) }
                printTable(["CONNECTION", "KIND", "VERSION", "USER", "SCOPES", "EXPIRES", "STATE", "VERIFIED", "FINGERPRINT", "CREATED"], list.map { t in
                    let exp = t.expires.map { e in
                        t.expired ? "\(e) (EXPIRED)" : t.expiringSoon ? "\(e) (\(t.daysLeft ?? 0)d left, EXPIRING SOON)" : "\(e) (\(t.daysLeft ?? 0)d left)"
                    } ?? "-"
                    return [t.connection, t.kind, "v\(t.version)", t.username ?? t.clientId ?? "-", t.scopes.joined(separator: ","), exp,
                            t.state + (t.retireAt.map { " until \($0)" } ?? ""),
                            t.verification.map(verificationSummary) ?? (t.kind == "token" ? "never" : "-"), t.fingerprint, t.createdAt]
                })
            } catch { throw fail(error) }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke at once (default: every version not yet revoked); ends the sessions holding it.")
        @Argument var connection: String
        @Option var version: Int64?
        @Option(help: "token (default) or oauth-client.") var kind = "token"
        @OptionGroup var client: ClientOptions
        func run() throws {
            do {
                let r: RevokeResult = try client.client().call(
                    "POST", "/v1/connections/\(pathComponent(connection))/tokens/revoke", body: TokenRevokeRequest(kind: kind, version: version))
                if client.json { return try printJSON(r) }
                print("revoked \(r.revokedVersions.map { "v\($0)" }.joined(separator: ", ")); ended \(r.endedSessions) session(s)")
            } catch { throw fail(error) }
        }
    }
}

/// `ok (2026-12-02T01:32:34Z)`, `REJECTED (…)`, `MISSING SCOPES: … (…)`, `UNREACHABLE (…)`:
/// what the server last said about a token, and when.
func verificationSummary(_ v: TokenVerificationInfo) -> String {
    let at = "at " + v.checkedAt
    switch v.state {
    case "ok": return "ok, \(at)"
    case "missing-scopes": return "MISSING \(v.missing.joined(separator: "; ")), \(at)"
    case "rejected": return "REJECTED, \(at)"
    case "unreachable": return "UNREACHABLE (not verified), \(at)"
    default: return "\(v.state.uppercased()) (not verified), \(at)"
    }
}

/// Reads the token from stdin into guarded memory and seals it to the intake key.
func sealToIntake(publicKeyBase64: String) throws -> String {
    guard let pk = Data(base64Encoded: publicKeyBase64), pk.count == IntakeKeyPair.publicKeyBytes else {
        throw InputError("the intake public key is not base64 of 32 bytes (use the output of `latchkey intake-key`)")
    }
    let token = try readSecretFromStdin(prompt: "Token: ", limit: 4096)
    guard token.count > 0 else { throw InputError("no token on standard input") }
    return Data(IntakeKeyPair.seal(token, to: Array(pk))).base64EncodedString()
}

struct IntakeKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "intake-key", abstract: "Print the daemon's intake public key (for `token seal` on another machine).")
    @OptionGroup var client: ClientOptions
    func run() throws {
        do {
            let k: IntakeKey = try client.client().call("GET", "/v1/intake-key")
            if client.json { try printJSON(k) } else { print(k.publicKey) }
        } catch { throw fail(error) }
    }
}

struct MasterKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "master-key", abstract: "The master key (admin): rotate the KEK, or rekey the root key.", subcommands: [Rotate.self, Rekey.self])

    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a key generation and re-wrap every data key in one transaction (payloads untouched).")
        @OptionGroup var client: ClientOptions
        func run() throws {
            do {
                let r: MasterKeyRotation = try client.client().call("POST", "/v1/master-key/rotate")
                if client.json { return try printJSON(r) }
                print("key generation \(r.generation) active; re-wrapped \(r.rewrapped) data key(s); the old generation is destroyed")
            } catch { throw fail(error) }
        }
    }

    struct Rekey: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace the root key (key file or passphrase) the KEK is wrapped under; the old one stops opening the store.",
            discussion: """
                Re-wraps the active key generation under the new root key and replaces the check
                value in one transaction. --new-key-file names a file the daemon reads (it must be
                0600 and belong to the daemon's user or root) or creates if it does not exist;
                --new-passphrase-stdin reads the passphrase here and seals it to the daemon's
                intake key before it crosses the socket. Restart the daemon with the new
                --key-file / passphrase. `master-key rotate` (a new KEK) is a different command.
                """)
        @Option(name: .customLong("new-key-file"), help: "The new key file (read by the daemon, or created there).") var newKeyFile: String?
        @Flag(name: .customLong("new-passphrase-stdin"), help: "Read the new passphrase from standard input.") var newPassphraseStdin = false
        @Option(help: "Argon2id limits for a new passphrase: moderate (default) or interactive.") var kdf = "moderate"
        @OptionGroup var client: ClientOptions

        func validate() throws {
            guard (newKeyFile != nil) != newPassphraseStdin else {
                throw ValidationError("give exactly one of --new-key-file PATH or --new-passphrase-stdin")
            }
            guard kdf == "moderate" || kdf == "interactive" else { throw ValidationError("--kdf must be moderate or interactive") }
        }

        func run() throws {
            do {
                let c = try client.client()
                var request = MasterKeyRekeyRequest()
                if let newKeyFile {
                    request.keyFile = newKeyFile.hasPrefix("/")
                        ? newKeyFile : FileManager.default.currentDirectoryPath + "/" + newKeyFile
                } else {
                    let intake: IntakeKey = try c.call("GET", "/v1/intake-key")
                    guard let pk = Data(base64Encoded: intake.publicKey), pk.count == IntakeKeyPair.publicKeyBytes else {
                        throw InputError("the daemon's intake public key is not base64 of 32 bytes")
                    }
                    let pass = try readPassphrase()
                    request.sealedPassphrase = Data(IntakeKeyPair.seal(pass, to: Array(pk))).base64EncodedString()
                    request.kdf = kdf
                }
                let r: MasterKeyRekeyResult = try c.call("POST", "/v1/master-key/rekey", body: request)
                if client.json { return try printJSON(r) }
                print("key generation \(r.generation) is now wrapped under the new \(r.kind); the previous master key no longer opens the store")
                print("restart the daemon with the new \(r.kind == "key-file" ? "--key-file" : "--passphrase-stdin")")
            } catch { throw fail(error) }
        }
    }
}
