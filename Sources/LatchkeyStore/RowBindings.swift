package import LatchkeyCrypto
import Foundation

/// Per-row MACs over the clear columns the daemon acts on.
///
/// A store writer without the master key can change any clear column. Everything the
/// daemon shows or acts on — a deploy key's public key and fingerprint, a token's
/// username, client id and expiry, every version's state and retire time, which
/// connection a project uses, a connection's URLs — is therefore covered by a keyed
/// BLAKE2b-256 over a canonical encoding of the row (docs/STORE.md), stored in the row's
/// `binding_mac`. A row whose MAC does not verify is refused (`StoreError.bindingFailed`,
/// naming the row), never shown or acted on.
///
/// Keys: the store keeps one random 32-byte binding secret as a sealed sub-key
/// (`daemon:binding`, re-wrapped by every master-key rotation like the others, so MACs
/// stay valid across rotations and rekeys); each table's MAC key is derived from it with
/// `crypto_kdf` (context `lkrowmac`, ids below), so no key serves two tables.
package struct RowBindings: Sendable {
    static let context = "lkrowmac"
    static let secretVersionKeyID: UInt64 = 1
    static let projectKeyID: UInt64 = 2
    static let connectionKeyID: UInt64 = 3
    static let certificateSettingsKeyID: UInt64 = 4
    /// `scm_webhook` (16: apart from the low ids other tables take as they gain bindings).
    static let webhookKeyID: UInt64 = 16
    // 5–8: the SCM columns and token verification results (RowBindings+SCM.swift).
    static let connectionSCMKeyID: UInt64 = 5
    static let projectSCMKeyID: UInt64 = 6
    static let scmDeployKeyKeyID: UInt64 = 7
    static let tokenVerificationKeyID: UInt64 = 8

    private let secretVersionKey: SecretBytes
    private let projectKey: SecretBytes
    private let connectionKey: SecretBytes
    private let certificateSettingsKey: SecretBytes
    let webhookKey: SecretBytes
    let connectionSCMKey: SecretBytes
    let projectSCMKey: SecretBytes
    let scmDeployKeyKey: SecretBytes
    let tokenVerificationKey: SecretBytes

    package init(secret: SecretBytes) throws {
        secretVersionKey = try SubkeyDerivation.derive(from: secret, context: Self.context, id: Self.secretVersionKeyID)
        projectKey = try SubkeyDerivation.derive(from: secret, context: Self.context, id: Self.projectKeyID)
        connectionKey = try SubkeyDerivation.derive(from: secret, context: Self.context, id: Self.connectionKeyID)
        certificateSettingsKey = try SubkeyDerivation.derive(from: secret, context: Self.context, id: Self.certificateSettingsKeyID)
        webhookKey = try SubkeyDerivation.derive(from: secret, context: Self.context, id: Self.webhookKeyID)
        connectionSCMKey = try SubkeyDerivation.derive(from: secret, context: Self.context, id: Self.connectionSCMKeyID)
        projectSCMKey = try SubkeyDerivation.derive(from: secret, context: Self.context, id: Self.projectSCMKeyID)
        scmDeployKeyKey = try SubkeyDerivation.derive(from: secret, context: Self.context, id: Self.scmDeployKeyKeyID)
        tokenVerificationKey = try SubkeyDerivation.derive(from: secret, context: Self.context, id: Self.tokenVerificationKeyID)
    }

    // MARK: The canonical encodings (docs/STORE.md). They never change within a label.

    /// The bound columns of a `secret_version` row, as stored.
    package struct SecretVersionColumns: Sendable {
        var kind: String
        var owner: String
        var projectID: Int64?
        var connectionID: Int64?
        var version: Int64
        var state: String
        var retireAt: String?
        var revokedAt: String?
        var createdAt: String
        var attributes: String

        init(row: SQLRow) {
            kind = row["kind"]
            owner = row["owner"]
            projectID = row["project_id"]
            connectionID = row["connection_id"]
            version = row["version"]
            state = row["state"]
            retireAt = row["retire_at"]
            revokedAt = row["revoked_at"]
            createdAt = row["created_at"]
            attributes = row["attributes"]
        }

        init(kind: String, owner: String, projectID: Int64?, connectionID: Int64?, version: Int64, state: String,
             retireAt: String?, revokedAt: String?, createdAt: String, attributes: String) {
            self.kind = kind
            self.owner = owner
            self.projectID = projectID
            self.connectionID = connectionID
            self.version = version
            self.state = state
            self.retireAt = retireAt
            self.revokedAt = revokedAt
            self.createdAt = createdAt
            self.attributes = attributes
        }

        var encoding: [UInt8] {
            var e = Encoder("latchkey/row/secret-version/v1")
            e.string(kind); e.string(owner); e.optional(projectID); e.optional(connectionID); e.integer(version)
            e.string(state); e.optional(retireAt); e.optional(revokedAt); e.string(createdAt); e.string(attributes)
            return e.bytes
        }

        var name: String { "\(kind) \(owner) v\(version)" }
    }

    /// A project row: its name, the *name* of the connection it uses (so pointing
    /// `connection_id` at another connection breaks the MAC), repository and creation time.
    static func projectEncoding(name: String, connection: String, repo: String, createdAt: String) -> [UInt8] {
        var e = Encoder("latchkey/row/project/v1")
        e.string(name); e.string(connection); e.string(repo); e.string(createdAt)
        return e.bytes
    }

    /// A connection row: every column the daemon uses to reach the server.
    static func connectionEncoding(name: String, kind: String, webURL: String, apiURL: String, sshURL: String, createdAt: String) -> [UInt8] {
        var e = Encoder("latchkey/row/connection/v1")
        e.string(name); e.string(kind); e.string(webURL); e.string(apiURL); e.string(sshURL); e.string(createdAt)
        return e.bytes
    }

    /// A connection's certificate settings: the connection's *name* (so moving the row to
    /// another connection breaks it), principals and extensions (their JSON text), key id user.
    static func certificateSettingsEncoding(connection: String, principals: String, extensions: String, keyIDUsername: String?) -> [UInt8] {
        var e = Encoder("latchkey/row/connection-certificate-settings/v1")
        e.string(connection); e.string(principals); e.string(extensions); e.optional(keyIDUsername)
        return e.bytes
    }

    /// string(x) = u32 big-endian byte length ‖ UTF-8; integers u64 big-endian (two's
    /// complement); opt(x) = 0x00, or 0x01 ‖ x.
    struct Encoder {
        var bytes: [UInt8] = []
        init(_ label: String) { string(label) }
        mutating func string(_ s: String) { bytes += RecordBinding.fieldBytes(s) }
        mutating func integer(_ v: Int64) {
            let u = UInt64(bitPattern: v)
            for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: u >> (56 - 8 * UInt64(i)))) }
        }
        mutating func optional(_ s: String?) {
            guard let s else { return bytes.append(0) }
            bytes.append(1)
            string(s)
        }
        mutating func optional(_ v: Int64?) {
            guard let v else { return bytes.append(0) }
            bytes.append(1)
            integer(v)
        }
    }

    // MARK: MACs

    package func mac(_ c: SecretVersionColumns) -> [UInt8] { Blake2b.hash(c.encoding, key: secretVersionKey) }

    package func projectMAC(name: String, connection: String, repo: String, createdAt: String) -> [UInt8] {
        Blake2b.hash(Self.projectEncoding(name: name, connection: connection, repo: repo, createdAt: createdAt), key: projectKey)
    }

    package func connectionMAC(name: String, kind: String, webURL: String, apiURL: String, sshURL: String, createdAt: String) -> [UInt8] {
        Blake2b.hash(
            Self.connectionEncoding(name: name, kind: kind, webURL: webURL, apiURL: apiURL, sshURL: sshURL, createdAt: createdAt),
            key: connectionKey)
    }

    package func certificateSettingsMAC(connection: String, principals: String, extensions: String, keyIDUsername: String?) -> [UInt8] {
        Blake2b.hash(
            Self.certificateSettingsEncoding(connection: connection, principals: principals, extensions: extensions, keyIDUsername: keyIDUsername),
            key: certificateSettingsKey)
    }

    /// Verifies a settings row read with its connection's name as `connection`.
    package func verifyCertificateSettings(_ row: SQLRow) throws(StoreError) {
        let connection: String = row["connection"]
        try Self.check(
            row["binding_mac"],
            certificateSettingsMAC(connection: connection, principals: row["principals"], extensions: row["extensions"], keyIDUsername: row["key_id_username"]),
            row: "certificate settings of connection '\(Names.printable(connection))'")
    }

    /// Checks a stored MAC (constant time); a missing one fails.
    static func check(_ stored: Data?, _ expected: [UInt8], row: @autoclosure () -> String) throws(StoreError) {
        guard let stored, constantTimeEquals(Array(stored), expected) else { throw .bindingFailed(row: row()) }
    }

    /// Verifies a `secret_version` row read with `SELECT *`.
    package func verifySecretVersion(_ row: SQLRow) throws(StoreError) {
        let c = SecretVersionColumns(row: row)
        try Self.check(row["binding_mac"], mac(c), row: "secret_version \(c.name)")
    }

    /// Verifies a project row read with its connection's name as `connection`.
    package func verifyProject(_ row: SQLRow) throws(StoreError) {
        let name: String = row["name"]
        try Self.check(
            row["binding_mac"], projectMAC(name: name, connection: row["connection"], repo: row["repo"], createdAt: row["created_at"]),
            row: "project '\(Names.printable(name))'")
    }

    package func verifyConnection(_ row: SQLRow) throws(StoreError) {
        let name: String = row["name"]
        try Self.check(
            row["binding_mac"],
            connectionMAC(name: name, kind: row["kind"], webURL: row["web_url"], apiURL: row["api_url"], sshURL: row["ssh_url"], createdAt: row["created_at"]),
            row: "connection '\(Names.printable(name))'")
    }

    // MARK: The one-time upgrade

    /// MACs every row that has none: the upgrade of a store from before bindings, in the
    /// caller's transaction. It blesses the rows as they are at that moment — the first
    /// unlock after the upgrade is the last time a writer's edit could go unnoticed.
    package func bindAll(in db: StoreDB) throws {
        let updateVersion = "UPDATE secret_version SET binding_mac = ? WHERE id = ?"
        for row in try SQLRow.fetchAll(db, sql: "SELECT * FROM secret_version WHERE kind != 'subkey'") {
            try db.execute(sql: updateVersion, arguments: [Data(mac(SecretVersionColumns(row: row))), row["id"] as Int64])
        }
        for row in try SQLRow.fetchAll(db, sql: "SELECT * FROM connection") {
            let mac = connectionMAC(
                name: row["name"], kind: row["kind"], webURL: row["web_url"], apiURL: row["api_url"], sshURL: row["ssh_url"],
                createdAt: row["created_at"])
            try db.execute(sql: "UPDATE connection SET binding_mac = ? WHERE id = ?", arguments: [Data(mac), row["id"] as Int64])
        }
        for row in try SQLRow.fetchAll(
            db, sql: "SELECT p.id, p.name, c.name AS connection, p.repo, p.created_at FROM project p JOIN connection c ON c.id = p.connection_id")
        {
            let mac = projectMAC(name: row["name"], connection: row["connection"], repo: row["repo"], createdAt: row["created_at"])
            try db.execute(sql: "UPDATE project SET binding_mac = ? WHERE id = ?", arguments: [Data(mac), row["id"] as Int64])
        }
        for row in try SQLRow.fetchAll(
            db, sql: "SELECT s.*, c.name AS connection FROM connection_certificate_settings s JOIN connection c ON c.id = s.connection_id")
        {
            let mac = certificateSettingsMAC(
                connection: row["connection"], principals: row["principals"], extensions: row["extensions"], keyIDUsername: row["key_id_username"])
            try db.execute(
                sql: "UPDATE connection_certificate_settings SET binding_mac = ? WHERE connection_id = ?",
                arguments: [Data(mac), row["connection_id"] as Int64])
        }
    }
}
