import Foundation
import LatchkeyCrypto
import LatchkeyStore
import Testing

/// A row-binding vector (BindingVectors/*.vec, written by make-vectors.py from
/// docs/STORE.md alone): a strict header — the format line, `expect`, `table`, `secret`,
/// exactly the table's columns (`~` for NULL), then `encoding` and `mac` (good) or the
/// stored `mac` of another row (bad), and `source`. An unknown or missing header fails.
struct BindingVector: CustomStringConvertible {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("BindingVectors")
    static let formatLine = "latchkey-row-binding-vector: 1"
    static let columns: [String: [String]] = [
        "connection-scm": ["name", "created-at", "ca-file"],
        "project-scm": ["name", "created-at", "install-deploy-key", "deploy-key-write"],
        "scm-deploy-key": ["project", "version", "repo", "connection", "state", "server-key-id"],
        "token-verification": ["owner", "version", "version-created-at", "checked-at", "state", "user", "scopes", "expires-at", "missing", "message"],
    ]
    struct FormatError: Error, CustomStringConvertible { let description: String }

    let name: String
    let headers: [String: String]
    var description: String { name }
    var table: String { headers["table"]! }

    static func names(_ prefix: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
            .filter { $0.hasPrefix(prefix) && $0.hasSuffix(".vec") }.map { String($0.dropLast(4)) }.sorted()
    }

    init(_ name: String) throws {
        self.name = name
        let text = try String(contentsOf: Self.directory.appendingPathComponent(name + ".vec"), encoding: .utf8)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.last == "" else { throw FormatError(description: "\(name): no final newline") }
        lines.removeLast()
        guard lines.first == Substring(Self.formatLine) else { throw FormatError(description: "\(name): first line is not '\(Self.formatLine)'") }
        var h: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":"), line[line.index(after: colon)...].hasPrefix(" ") else {
                throw FormatError(description: "\(name): header line without 'name: value'")
            }
            let key = String(line[..<colon])
            guard h[key] == nil else { throw FormatError(description: "\(name): header '\(key)' repeated") }
            h[key] = String(line[line.index(colon, offsetBy: 2)...])
        }
        let good = name.hasPrefix("good-")
        guard good || name.hasPrefix("bad-") else { throw FormatError(description: "\(name): not good-/bad-") }
        guard h["expect"] == (good ? "ok" : "error binding_failed") else { throw FormatError(description: "\(name): expect does not fit the name") }
        guard let table = h["table"], let columns = Self.columns[table] else { throw FormatError(description: "\(name): unknown table") }
        let expected = Set(["expect", "table", "secret", "source", "mac"] + columns + (good ? ["encoding"] : []))
        guard Set(h.keys) == expected else {
            throw FormatError(description: "\(name): headers \(Set(h.keys).symmetricDifference(expected)) unknown or missing")
        }
        headers = h
    }

    func text(_ column: String) -> String? { headers[column].flatMap { $0 == "~" ? nil : $0 } }
    func integer(_ column: String) -> Int64 { Int64(headers[column]!)! }

    func bindings() throws -> RowBindings {
        var secret = try #require(Hex.decode(headers["secret"]!))
        return try RowBindings(secret: try SecretBytes(consuming: &secret))
    }

    /// The encoding and MAC the daemon computes from the vector's columns.
    func computed() throws -> (encoding: [UInt8], mac: [UInt8]) {
        let b = try bindings()
        switch table {
        case "connection-scm":
            return (
                RowBindings.connectionSCMEncoding(name: text("name")!, createdAt: text("created-at")!, caFile: text("ca-file")),
                b.connectionSCMMAC(name: text("name")!, createdAt: text("created-at")!, caFile: text("ca-file")))
        case "project-scm":
            let (install, write) = (integer("install-deploy-key") == 1, integer("deploy-key-write") == 1)
            return (
                RowBindings.projectSCMEncoding(name: text("name")!, createdAt: text("created-at")!, installDeployKey: install, deployKeyWrite: write),
                b.projectSCMMAC(name: text("name")!, createdAt: text("created-at")!, installDeployKey: install, deployKeyWrite: write))
        case "scm-deploy-key":
            let args = (text("project")!, integer("version"), text("repo")!, text("connection")!, text("state")!, text("server-key-id")!)
            return (
                RowBindings.scmDeployKeyEncoding(project: args.0, version: args.1, repo: args.2, connection: args.3, state: args.4, serverKeyID: args.5),
                b.scmDeployKeyMAC(project: args.0, version: args.1, repo: args.2, connection: args.3, state: args.4, serverKeyID: args.5))
        default:
            let c = tokenColumns
            return (c.encoding, b.tokenVerificationMAC(c))
        }
    }

    var tokenColumns: RowBindings.TokenVerificationColumns {
        RowBindings.TokenVerificationColumns(
            owner: text("owner")!, version: integer("version"), versionCreatedAt: text("version-created-at")!, checkedAt: text("checked-at")!,
            state: text("state")!, user: text("user"), scopes: text("scopes"), expiresAt: text("expires-at"), missing: text("missing")!,
            message: text("message"))
    }

    /// The vector as the row the daemon reads, with its stored MAC.
    var row: SQLRow {
        let mac = Data(Hex.decode(headers["mac"]!)!)
        switch table {
        case "connection-scm":
            return testRow(["name": text("name"), "created_at": text("created-at"), "ca_file": text("ca-file"), "scm_binding_mac": mac])
        case "project-scm":
            return testRow([
                "name": text("name"), "created_at": text("created-at"), "install_deploy_key": integer("install-deploy-key"),
                "deploy_key_write": integer("deploy-key-write"), "scm_binding_mac": mac,
            ])
        case "scm-deploy-key":
            return testRow([
                "project": text("project"), "version": integer("version"), "repo": text("repo"), "connection": text("connection"),
                "state": text("state"), "server_key_id": text("server-key-id"), "binding_mac": mac,
            ])
        default:
            return testRow([
                "owner": text("owner"), "version": integer("version"), "version_created_at": text("version-created-at"),
                "checked_at": text("checked-at"), "state": text("state"), "user": text("user"), "scopes": text("scopes"),
                "expires_at": text("expires-at"), "missing": text("missing"), "message": text("message"), "binding_mac": mac,
            ])
        }
    }

    /// What the daemon's read path does with the row.
    func verify() throws {
        let b = try bindings()
        switch table {
        case "connection-scm": try b.verifyConnectionSCM(row)
        case "project-scm": try b.verifyProjectSCM(row)
        case "scm-deploy-key": try b.verifySCMDeployKey(row)
        default: try b.verifyTokenVerification(row)
        }
    }
}

@Suite struct BindingVectorTests {
    @Test func theVectorDirectoryHoldsOnlyNamedVectors() throws {
        for file in try FileManager.default.contentsOfDirectory(atPath: BindingVector.directory.path) where file != "make-vectors.py" {
            #expect((file.hasPrefix("good-") || file.hasPrefix("bad-")) && file.hasSuffix(".vec"), "unexpected file \(file)")
        }
        let good = Set(try BindingVector.names("good-").map { try BindingVector($0).table })
        let bad = Set(try BindingVector.names("bad-").map { try BindingVector($0).table })
        #expect(good == Set(BindingVector.columns.keys) && bad == good, "every table has good and bad vectors")
    }

    @Test(arguments: BindingVector.names("good-"))
    func goodRowsEncodeAndMACExactlyAndVerify(_ name: String) throws {
        let v = try BindingVector(name)
        let (encoding, mac) = try v.computed()
        #expect(Hex.encode(encoding) == v.headers["encoding"], "\(name): encoding")
        #expect(Hex.encode(mac) == v.headers["mac"], "\(name): mac")
        try v.verify()
    }

    @Test(arguments: BindingVector.names("bad-"))
    func editedRowsAreRefusedNamingTheRow(_ name: String) throws {
        let v = try BindingVector(name)
        let error = try #require(throws: StoreError.self) { try v.verify() }
        #expect(error.code == "binding_failed", "\(name): \(error)")
    }

    @Test func aRowWithNoMACFails() throws {
        let v = try BindingVector("good-deploy-key-installed")
        let row = testRow([
            "project": v.text("project"), "version": v.integer("version"), "repo": v.text("repo"), "connection": v.text("connection"),
            "state": v.text("state"), "server_key_id": v.text("server-key-id"), "binding_mac": nil as Data?,
        ])
        #expect(throws: StoreError.self) { try v.bindings().verifySCMDeployKey(row) }
    }
}

/// A row as the engine hands it to row code, columns by name.
func testRow(_ columns: [String: (any SQLValueConvertible)?]) -> SQLRow {
    SQLRow(columns: Array(columns.keys), values: columns.values.map { $0?.sqlValue ?? .null })
}
