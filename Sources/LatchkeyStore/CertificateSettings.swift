import Foundation

/// What a connection's SSH user certificates carry, set with
/// `latchkey connection set NAME --cert-principal git --cert-extension login@HOST=USER
/// --cert-key-id-username USER`. The store keeps the strings; the daemon checks them
/// against the certificate format (LatchkeySSH) before saving and again when it issues.
package struct CertificateSettings: Sendable, Codable, Equatable {
    /// The users a certificate may log in as (sshd's `AuthorizedPrincipalsFile`, a
    /// GitHub Enterprise or GitLab `git` user).
    package var principals: [String]
    /// Extensions as `name` or `name=value` (`permit-pty`, `login@ghe.example=ci-bot`).
    package var extensions: [String]
    /// When set, the certificate's key id is this username instead of
    /// `latchkey:<project>:<session>:<build>` (GitLab reads the key id as the user).
    package var keyIDUsername: String?

    package init(principals: [String] = [], extensions: [String] = [], keyIDUsername: String? = nil) {
        self.principals = principals
        self.extensions = extensions
        self.keyIDUsername = keyIDUsername
    }

    /// The settings of a connection (empty when never set).
    package static func find(connectionID: Int64, in db: StoreDB) throws -> CertificateSettings {
        guard let row = try SQLRow.fetchOne(
                db, sql: """
                    SELECT s.*, c.name AS connection FROM connection_certificate_settings s JOIN connection c ON c.id = s.connection_id
                    WHERE s.connection_id = ?
                    """, arguments: [connectionID])
        else { return CertificateSettings() }
        // What certificates say (principals above all) is bound to its connection's row.
        try db.bindings().verifyCertificateSettings(row)
        func list(_ column: String) throws -> [String] {
            guard let list = try? JSONDecoder().decode([String].self, from: Data((row[column] as String).utf8)) else {
                throw StoreError.corrupt(path: "store", reason: "connection_certificate_settings.\(column) is not a JSON list of strings")
            }
            return list
        }
        return CertificateSettings(principals: try list("principals"), extensions: try list("extensions"), keyIDUsername: row["key_id_username"])
    }

    /// Replaces a connection's settings.
    package static func save(_ settings: CertificateSettings, connectionID: Int64, in db: StoreDB) throws {
        let encoder = JSONEncoder.sorted
        guard let connection = try String.fetchOne(db, sql: "SELECT name FROM connection WHERE id = ?", arguments: [connectionID]) else {
            throw StoreError.notFound(what: "connection \(connectionID)")
        }
        let principals = String(decoding: try encoder.encode(settings.principals), as: UTF8.self)
        let extensions = String(decoding: try encoder.encode(settings.extensions), as: UTF8.self)
        let mac = try db.bindings().certificateSettingsMAC(
            connection: connection, principals: principals, extensions: extensions, keyIDUsername: settings.keyIDUsername)
        try db.execute(
            sql: """
                INSERT INTO connection_certificate_settings(connection_id, principals, extensions, key_id_username, binding_mac) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(connection_id) DO UPDATE SET principals = excluded.principals, extensions = excluded.extensions,
                    key_id_username = excluded.key_id_username, binding_mac = excluded.binding_mac
                """,
            arguments: [connectionID, principals, extensions, settings.keyIDUsername, Data(mac)])
    }
}
