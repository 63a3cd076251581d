import Foundation

/// The kinds of self-hosted SCM server Latchkey knows.
package enum ConnectionKind: String, Sendable, Codable, CaseIterable {
    case githubEnterprise = "github-enterprise"
    case gitlab
    case bitbucketServer = "bitbucket-server"

    /// The REST API root each server serves by default.
    package func defaultAPIURL(host: String) -> String {
        switch self {
        case .githubEnterprise: "https://\(host)/api/v3"
        case .gitlab: "https://\(host)/api/v4"
        case .bitbucketServer: "https://\(host)/rest/api/1.0"
        }
    }

    /// SSH listens on 22, but on 7999 for Bitbucket Server.
    package var defaultSSHPort: Int { self == .bitbucketServer ? 7999 : 22 }
}

/// An SCM server a CI talks to.
package struct Connection: Sendable, Codable, Equatable {
    package var name: String
    package var kind: ConnectionKind
    package var webURL: String
    package var apiURL: String
    package var sshURL: String
    package var createdAt: Timestamp
    /// A PEM file of the CA certificates trusted for the API (nil: the system's store).
    package var caFile: String?

    /// Validates and fills defaults. URLs: https only for web and API, `ssh://HOST[:PORT]` for SSH.
    package init(
        name: String, kind: ConnectionKind, webURL: String, apiURL: String?, sshURL: String?, caFile: String? = nil,
        createdAt: Timestamp = .now()
    ) throws(StoreError) {
        try Names.validate(name, what: "connection")
        let host = try Self.httpsHost(webURL, what: "--url")
        self.name = name
        self.kind = kind
        self.webURL = webURL.hasSuffix("/") ? String(webURL.dropLast()) : webURL
        if let apiURL {
            _ = try Self.httpsHost(apiURL, what: "--api-url")
            self.apiURL = apiURL
        } else {
            self.apiURL = kind.defaultAPIURL(host: host)
        }
        if let sshURL {
            guard let u = URLComponents(string: sshURL), u.scheme == "ssh", let h = u.host, !h.isEmpty, u.query == nil,
                u.fragment == nil, u.port.map({ (1...65535).contains($0) }) ?? true
            else {
                throw .invalid("--ssh-url '\(Names.printable(sshURL))' is not an ssh://HOST[:PORT] URL")
            }
            self.sshURL = sshURL
        } else {
            // The web URL's port (if any) is the web server's, not SSH's.
            let bareHost = URLComponents(string: webURL)?.host ?? host
            self.sshURL = "ssh://\(bareHost):\(kind.defaultSSHPort)"
        }
        self.createdAt = createdAt
        if let caFile {
            guard caFile.hasPrefix("/"), caFile.utf8.count <= 4096, !caFile.unicodeScalars.contains(where: { $0.value < 0x20 }) else {
                throw .invalid("--ca-file '\(Names.printable(caFile))' must be an absolute path (the daemon reads it)")
            }
        }
        self.caFile = caFile
    }

    /// The host of an https URL without credentials, query or fragment.
    static func httpsHost(_ text: String, what: String) throws(StoreError) -> String {
        guard text.utf8.count <= 2048, let u = URLComponents(string: text), let host = u.host, !host.isEmpty else {
            throw .invalid("\(what) '\(Names.printable(text))' is not a URL; expected https://HOST")
        }
        guard u.scheme?.lowercased() == "https" else {
            throw .invalid("\(what) '\(Names.printable(text))' must use https:// (tokens never travel in clear)")
        }
        guard u.user == nil, u.password == nil, u.query == nil, u.fragment == nil else {
            throw .invalid("\(what) must not carry credentials, a query or a fragment")
        }
        return u.port.map { "\(host):\($0)" } ?? host
    }

    /// Checks a repository path against the server's form: `owner/repo` (GitHub
    /// Enterprise), `group/subgroup/repo` (GitLab), `PROJECTKEY/repo-slug` (Bitbucket Server).
    package func validateRepository(_ repo: String) throws(StoreError) {
        let parts = repo.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        let segmentOK: (String) -> Bool = { s in
            !s.isEmpty && s.utf8.count <= 100 && s != "." && s != ".."
                && s.utf8.allSatisfy { Names.isAlnum($0) || $0 == 46 || $0 == 95 || $0 == 45 }
        }
        switch kind {
        case .githubEnterprise:
            guard parts.count == 2, parts.allSatisfy(segmentOK) else {
                throw .invalid("repository '\(Names.printable(repo))' is not owner/repo (GitHub Enterprise)")
            }
        case .gitlab:
            guard (2...20).contains(parts.count), parts.allSatisfy(segmentOK) else {
                throw .invalid("repository '\(Names.printable(repo))' is not group[/subgroup...]/repo (GitLab)")
            }
        case .bitbucketServer:
            guard parts.count == 2, parts.allSatisfy(segmentOK),
                parts[0].utf8.allSatisfy({ ($0 >= 65 && $0 <= 90) || ($0 >= 48 && $0 <= 57) || $0 == 95 || $0 == 126 })
            else {
                throw .invalid("repository '\(Names.printable(repo))' is not PROJECTKEY/repo-slug (Bitbucket Server; the key is upper case)")
            }
        }
    }
}

extension Connection {
    package static func insert(_ c: Connection, in db: StoreDB) throws {
        if try Bool.fetchOne(db, sql: "SELECT 1 FROM connection WHERE name = ?", arguments: [c.name]) == true {
            throw StoreError.conflict(what: "connection '\(c.name)' already exists")
        }
        let bindings = try db.bindings()
        let mac = bindings.connectionMAC(
            name: c.name, kind: c.kind.rawValue, webURL: c.webURL, apiURL: c.apiURL, sshURL: c.sshURL, createdAt: c.createdAt.description)
        let scmMAC = bindings.connectionSCMMAC(name: c.name, createdAt: c.createdAt.description, caFile: c.caFile)
        try db.execute(
            sql: """
                INSERT INTO connection(name, kind, web_url, api_url, ssh_url, created_at, binding_mac, ca_file, scm_binding_mac)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [c.name, c.kind.rawValue, c.webURL, c.apiURL, c.sshURL, c.createdAt.description, Data(mac), c.caFile, Data(scmMAC)])
    }

    /// Sets (or with nil clears) the CA file a connection trusts.
    package static func setCAFile(_ name: String, _ caFile: String?, in db: StoreDB) throws -> Connection {
        var (id, c) = try find(name, in: db)
        c = try Connection(name: c.name, kind: c.kind, webURL: c.webURL, apiURL: c.apiURL, sshURL: c.sshURL, caFile: caFile, createdAt: c.createdAt)
        let mac = try db.bindings().connectionSCMMAC(name: c.name, createdAt: c.createdAt.description, caFile: caFile)
        try db.execute(sql: "UPDATE connection SET ca_file = ?, scm_binding_mac = ? WHERE id = ?", arguments: [caFile, Data(mac), id])
        return c
    }

    package static func all(in db: StoreDB) throws -> [Connection] {
        let bindings = try db.bindings()
        return try db.mapRows(sql: "SELECT * FROM connection ORDER BY name") { row in
            try bindings.verifyConnection(row)
            try bindings.verifyConnectionSCM(row)
            return try Connection(row: row)
        }
    }

    package static func find(_ name: String, in db: StoreDB) throws -> (id: Int64, connection: Connection) {
        guard let row = try SQLRow.fetchOne(db, sql: "SELECT * FROM connection WHERE name = ?", arguments: [name]) else {
            throw StoreError.notFound(what: "connection '\(Names.printable(name))'")
        }
        let bindings = try db.bindings()
        try bindings.verifyConnection(row)
        try bindings.verifyConnectionSCM(row)
        return (row["id"], try Connection(row: row))
    }

    /// Removes a connection with no projects; its token versions go with it (also when its
    /// binding fails: removing only destroys).
    package static func remove(_ name: String, in db: StoreDB) throws {
        guard let id = try Int64.fetchOne(db, sql: "SELECT id FROM connection WHERE name = ?", arguments: [name]) else {
            throw StoreError.notFound(what: "connection '\(Names.printable(name))'")
        }
        let users = try String.fetchAll(db, sql: "SELECT name FROM project WHERE connection_id = ? ORDER BY name", arguments: [id])
        guard users.isEmpty else {
            throw StoreError.conflict(what: "connection '\(name)' is used by projects \(users.joined(separator: ", ")); remove them first")
        }
        try db.execute(sql: "DELETE FROM connection WHERE id = ?", arguments: [id])
    }

    init(row: SQLRow) throws {
        guard let kind = ConnectionKind(rawValue: row["kind"]), let created = Timestamp(parsing: row["created_at"]) else {
            throw StoreError.corrupt(path: "store", reason: "connection row \(row["name"] as String? ?? "?") is malformed")
        }
        name = row["name"]
        self.kind = kind
        webURL = row["web_url"]
        apiURL = row["api_url"]
        sshURL = row["ssh_url"]
        caFile = row["ca_file"]
        createdAt = created
    }
}
