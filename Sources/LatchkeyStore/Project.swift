import Foundation

/// A repository on a connection; it owns its deploy-key versions.
package struct Project: Sendable, Codable, Equatable {
    package var name: String
    package var connection: String
    package var repo: String
    package var createdAt: Timestamp
    /// Latchkey installs this project's deploy keys on the repository itself.
    package var installDeployKey: Bool
    /// Installed keys may push (GitHub `read_only: false`, GitLab `can_push`, Bitbucket REPO_WRITE).
    package var deployKeyWrite: Bool

    package init(
        name: String, connection: String, repo: String, createdAt: Timestamp = .now(), installDeployKey: Bool = false,
        deployKeyWrite: Bool = false
    ) throws(StoreError) {
        try Names.validate(name, what: "project")
        self.name = name
        self.connection = connection
        self.repo = repo
        self.createdAt = createdAt
        self.installDeployKey = installDeployKey
        self.deployKeyWrite = deployKeyWrite
    }

    /// The owner string of this project's secret versions.
    package var owner: String { Self.owner(name) }
    package static func owner(_ name: String) -> String { "project:\(name)" }
}

extension Project {
    package static func insert(_ p: Project, in db: StoreDB) throws {
        let (connectionID, connection) = try Connection.find(p.connection, in: db)
        try connection.validateRepository(p.repo)
        if try Bool.fetchOne(db, sql: "SELECT 1 FROM project WHERE name = ?", arguments: [p.name]) == true {
            throw StoreError.conflict(what: "project '\(p.name)' already exists")
        }
        let bindings = try db.bindings()
        let mac = bindings.projectMAC(name: p.name, connection: connection.name, repo: p.repo, createdAt: p.createdAt.description)
        let scmMAC = bindings.projectSCMMAC(
            name: p.name, createdAt: p.createdAt.description, installDeployKey: p.installDeployKey, deployKeyWrite: p.deployKeyWrite)
        try db.execute(
            sql: """
                INSERT INTO project(name, connection_id, repo, created_at, binding_mac, install_deploy_key, deploy_key_write, scm_binding_mac)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [p.name, connectionID, p.repo, p.createdAt.description, Data(mac), p.installDeployKey, p.deployKeyWrite, Data(scmMAC)])
    }

    /// Turns Latchkey's installing of the project's deploy keys on or off.
    package static func setInstall(_ name: String, installDeployKey: Bool, write: Bool, in db: StoreDB) throws -> Project {
        var (id, p) = try find(name, in: db)
        let mac = try db.bindings().projectSCMMAC(
            name: p.name, createdAt: p.createdAt.description, installDeployKey: installDeployKey, deployKeyWrite: write)
        try db.execute(
            sql: "UPDATE project SET install_deploy_key = ?, deploy_key_write = ?, scm_binding_mac = ? WHERE id = ?",
            arguments: [installDeployKey, write, Data(mac), id])
        p.installDeployKey = installDeployKey
        p.deployKeyWrite = write
        return p
    }

    /// The columns a project is read with; `connection` is the joined connection's name,
    /// which the project's binding covers.
    static let selection = "SELECT p.id, p.name, c.name AS connection, p.repo, p.created_at, p.binding_mac, p.install_deploy_key, p.deploy_key_write, p.scm_binding_mac FROM project p JOIN connection c ON c.id = p.connection_id"

    package static func all(in db: StoreDB) throws -> [Project] {
        let bindings = try db.bindings()
        return try db.mapRows(sql: selection + " ORDER BY p.name") { row in
            try bindings.verifyProject(row)
            try bindings.verifyProjectSCM(row)
            return try Project(row: row)
        }
    }

    package static func find(_ name: String, in db: StoreDB) throws -> (id: Int64, project: Project) {
        guard let row = try SQLRow.fetchOne(db, sql: selection + " WHERE p.name = ?", arguments: [name])
        else { throw StoreError.notFound(what: "project '\(Names.printable(name))'") }
        let bindings = try db.bindings()
        try bindings.verifyProject(row)
        try bindings.verifyProjectSCM(row)
        return (row["id"], try Project(row: row))
    }

    /// Removes the project and destroys its sealed material (the rows are deleted with
    /// secure_delete on); its audit history stays. It works on a project whose binding
    /// fails too: removing only destroys.
    package static func remove(_ name: String, in db: StoreDB) throws -> Int {
        guard let id = try Int64.fetchOne(db, sql: "SELECT id FROM project WHERE name = ?", arguments: [name]) else {
            throw StoreError.notFound(what: "project '\(Names.printable(name))'")
        }
        if let hook = try String.fetchOne(db, sql: "SELECT state FROM scm_webhook WHERE project = ?", arguments: [name]) {
            throw StoreError.conflict(
                what: "project '\(Names.printable(name))' has a webhook on its repository (\(hook)); remove it first with `latchkey webhook remove \(Names.printable(name))`")
        }
        let owner = Project.owner(name)
        let destroyed = try Int.fetchOne(
            db, sql: "SELECT count(*) FROM secret_version WHERE project_id = ? OR owner = ?", arguments: [id, owner]) ?? 0
        try db.execute(sql: "DELETE FROM secret_version WHERE project_id = ? OR owner = ?", arguments: [id, owner])
        try db.execute(sql: "DELETE FROM project WHERE id = ?", arguments: [id])
        return destroyed
    }

    init(row: SQLRow) throws {
        guard let created = Timestamp(parsing: row["created_at"]) else {
            throw StoreError.corrupt(path: "store", reason: "project row is malformed")
        }
        name = row["name"]
        connection = row["connection"]
        repo = row["repo"]
        createdAt = created
        installDeployKey = (row["install_deploy_key"] as Int64?) == 1
        deployKeyWrite = (row["deploy_key_write"] as Int64?) == 1
    }
}
