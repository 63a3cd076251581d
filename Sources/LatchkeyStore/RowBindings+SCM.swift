package import LatchkeyCrypto
import Foundation

/// The row MACs over what Latchkey does on the SCM servers (docs/STORE.md, `lkrowmac`
/// ids 5–8): the CA file a connection's API is trusted by (a store writer must not point
/// the daemon at a CA of theirs, which would let them stand in for the server and collect
/// the token), whether a project's deploy keys are installed and may push, each
/// installed key's server id and state (a writer must not make the daemon delete a key id
/// of their choosing), and what the server last said about each token.
///
/// The connection's and project's MACs are separate columns (`scm_binding_mac`) beside the
/// older `binding_mac`, whose encodings never change.
extension RowBindings {
    // MARK: Encodings (never change within a label)

    package static func connectionSCMEncoding(name: String, createdAt: String, caFile: String?) -> [UInt8] {
        var e = Encoder("latchkey/row/connection-scm/v1")
        e.string(name); e.string(createdAt); e.optional(caFile)
        return e.bytes
    }

    package static func projectSCMEncoding(name: String, createdAt: String, installDeployKey: Bool, deployKeyWrite: Bool) -> [UInt8] {
        var e = Encoder("latchkey/row/project-scm/v1")
        e.string(name); e.string(createdAt); e.integer(installDeployKey ? 1 : 0); e.integer(deployKeyWrite ? 1 : 0)
        return e.bytes
    }

    package static func scmDeployKeyEncoding(project: String, version: Int64, repo: String, connection: String, state: String, serverKeyID: String) -> [UInt8] {
        var e = Encoder("latchkey/row/scm-deploy-key/v1")
        e.string(project); e.integer(version); e.string(repo); e.string(connection); e.string(state); e.string(serverKeyID)
        return e.bytes
    }

    /// A token verification result, bound to its version by the version's owner, number
    /// and creation time (the row's id is not: a restore may renumber).
    package struct TokenVerificationColumns: Sendable, Equatable {
        package var owner: String
        package var version: Int64
        package var versionCreatedAt: String
        package var checkedAt: String
        package var state: String
        package var user: String?
        package var scopes: String?
        package var expiresAt: String?
        package var missing: String
        package var message: String?

        package init(
            owner: String, version: Int64, versionCreatedAt: String, checkedAt: String, state: String, user: String?, scopes: String?,
            expiresAt: String?, missing: String, message: String?
        ) {
            self.owner = owner
            self.version = version
            self.versionCreatedAt = versionCreatedAt
            self.checkedAt = checkedAt
            self.state = state
            self.user = user
            self.scopes = scopes
            self.expiresAt = expiresAt
            self.missing = missing
            self.message = message
        }

        /// From `token_verification` joined with its version (`owner`, `version`, `version_created_at`).
        init(row: SQLRow) {
            owner = row["owner"]
            version = row["version"]
            versionCreatedAt = row["version_created_at"]
            checkedAt = row["checked_at"]
            state = row["state"]
            user = row["user"]
            scopes = row["scopes"]
            expiresAt = row["expires_at"]
            missing = row["missing"]
            message = row["message"]
        }

        package var encoding: [UInt8] {
            var e = Encoder("latchkey/row/token-verification/v1")
            e.string(owner); e.integer(version); e.string(versionCreatedAt); e.string(checkedAt); e.string(state)
            e.optional(user); e.optional(scopes); e.optional(expiresAt); e.string(missing); e.optional(message)
            return e.bytes
        }
    }

    // MARK: MACs

    package func connectionSCMMAC(name: String, createdAt: String, caFile: String?) -> [UInt8] {
        Blake2b.hash(Self.connectionSCMEncoding(name: name, createdAt: createdAt, caFile: caFile), key: connectionSCMKey)
    }

    package func projectSCMMAC(name: String, createdAt: String, installDeployKey: Bool, deployKeyWrite: Bool) -> [UInt8] {
        Blake2b.hash(
            Self.projectSCMEncoding(name: name, createdAt: createdAt, installDeployKey: installDeployKey, deployKeyWrite: deployKeyWrite),
            key: projectSCMKey)
    }

    package func scmDeployKeyMAC(project: String, version: Int64, repo: String, connection: String, state: String, serverKeyID: String) -> [UInt8] {
        Blake2b.hash(
            Self.scmDeployKeyEncoding(project: project, version: version, repo: repo, connection: connection, state: state, serverKeyID: serverKeyID),
            key: scmDeployKeyKey)
    }

    package func tokenVerificationMAC(_ c: TokenVerificationColumns) -> [UInt8] { Blake2b.hash(c.encoding, key: tokenVerificationKey) }

    // MARK: Verifying rows as read

    /// A connection row read with `SELECT *`.
    package func verifyConnectionSCM(_ row: SQLRow) throws(StoreError) {
        let name: String = row["name"]
        try Self.check(
            row["scm_binding_mac"], connectionSCMMAC(name: name, createdAt: row["created_at"], caFile: row["ca_file"]),
            row: "connection '\(Names.printable(name))' (its CA file)")
    }

    /// A project row read with `Project.selection`.
    package func verifyProjectSCM(_ row: SQLRow) throws(StoreError) {
        let name: String = row["name"]
        let install = (row["install_deploy_key"] as Int64?) == 1
        let write = (row["deploy_key_write"] as Int64?) == 1
        try Self.check(
            row["scm_binding_mac"], projectSCMMAC(name: name, createdAt: row["created_at"], installDeployKey: install, deployKeyWrite: write),
            row: "project '\(Names.printable(name))' (its deploy-key install settings)")
    }

    /// A `scm_deploy_key` row read with `SELECT *`.
    package func verifySCMDeployKey(_ row: SQLRow) throws(StoreError) {
        let project: String = row["project"]
        let version: Int64 = row["version"]
        try Self.check(
            row["binding_mac"],
            scmDeployKeyMAC(
                project: project, version: version, repo: row["repo"], connection: row["connection"], state: row["state"],
                serverKeyID: row["server_key_id"]),
            row: "scm_deploy_key of project '\(Names.printable(project))' v\(version)")
    }

    package func verifyTokenVerification(_ row: SQLRow) throws(StoreError) {
        let c = TokenVerificationColumns(row: row)
        try Self.check(row["binding_mac"], tokenVerificationMAC(c), row: "token_verification of \(Names.printable(c.owner)) v\(c.version)")
    }

    // MARK: The one-time upgrade

    /// MACs the SCM columns of every row, in the caller's transaction (`KeyRing`'s upgrade
    /// to `latchkey/kek/v3`). Like `bindAll`, it blesses the rows as they are then.
    package func bindSCMColumns(in db: StoreDB) throws {
        for row in try SQLRow.fetchAll(db, sql: "SELECT id, name, created_at, ca_file FROM connection") {
            let mac = connectionSCMMAC(name: row["name"], createdAt: row["created_at"], caFile: row["ca_file"])
            try db.execute(sql: "UPDATE connection SET scm_binding_mac = ? WHERE id = ?", arguments: [Data(mac), row["id"] as Int64])
        }
        for row in try SQLRow.fetchAll(db, sql: "SELECT id, name, created_at, install_deploy_key, deploy_key_write FROM project") {
            let mac = projectSCMMAC(
                name: row["name"], createdAt: row["created_at"], installDeployKey: (row["install_deploy_key"] as Int64) == 1,
                deployKeyWrite: (row["deploy_key_write"] as Int64) == 1)
            try db.execute(sql: "UPDATE project SET scm_binding_mac = ? WHERE id = ?", arguments: [Data(mac), row["id"] as Int64])
        }
        for row in try SQLRow.fetchAll(db, sql: "SELECT * FROM scm_deploy_key") {
            let mac = scmDeployKeyMAC(
                project: row["project"], version: row["version"], repo: row["repo"], connection: row["connection"], state: row["state"],
                serverKeyID: row["server_key_id"])
            try db.execute(
                sql: "UPDATE scm_deploy_key SET binding_mac = ? WHERE project = ? AND version = ?",
                arguments: [Data(mac), row["project"] as String, row["version"] as Int64])
        }
    }
}
