import Foundation
import LatchkeyCrypto
import LatchkeyPostgres
import LatchkeyStore
import LatchkeyTestSupport
import Testing

/// The store's own row code on PostgreSQL: two hosts' daemons, each with its own data
/// directory and connections, share one database as the daemon role.
@Suite(.enabled(if: PostgresServer.testsEnabled, Comment(rawValue: PostgresServer.skipMessage)))
struct PostgresStoreTests {
    /// A migrated database with the daemon's grants, and a way to open a host's store on it.
    private func fleet(_ server: PostgresServer) throws -> (name: String, host: (String) throws -> Store) {
        let name = try server.createDatabase()
        let (owner, _) = try PostgresDatabase.openAndMigrate(
            url: server.url(role: PostgresServer.ownerRole, database: name), passwordFile: try server.passwordFile(role: PostgresServer.ownerRole),
            environment: [:])
        try owner.write { db in
            for g in PostgresSchema.grantStatements(daemonRole: PostgresServer.daemonRole, database: name) { try db.execute(sql: g) }
        }
        let host: (String) throws -> Store = { tag in
            let dir = makeTempDirectory("fleet-\(tag)") + "/data"
            try DataDirectory.prepare(dir, create: true)
            let db = try PostgresDatabase.openForDaemon(url: server.url(database: name), passwordFile: nil, environment: ["PGPASSFILE": try server.passfile()])
            return Store(directory: dir, database: db)
        }
        return (name, host)
    }

    private func secret(_ s: String) throws -> SecretBytes {
        var b = Array(s.utf8)
        return try SecretBytes(consuming: &b)
    }

    @Test func aTokenSealedOnOneHostOpensOnAnotherWithTheSameMasterKey() throws {
        let server = try PostgresServer.shared()
        let (_, host) = try fleet(server)
        let keyFile = makeTempDirectory("fleet-key") + "/master.key"
        let a = try host("a")
        let ringA = try KeyRing.initialize(store: a, source: .keyFile(path: keyFile))
        _ = try a.database.write { db in
            try SecretVersions.add(kind: .token, owner: "connection:ghe", grace: .zero, keyRing: ringA, in: db) { _ in
                (try secret("glpat-shared-by-the-fleet"), ["user": "ci-bot"])
            }
        }
        let b = try host("b")
        let ringB = try KeyRing.unlock(store: b, root: try KeyFile.read(path: keyFile))
        #expect(ringB.auditSigning.publicKey == ringA.auditSigning.publicKey)
        let (version, sealed) = try b.database.read { db in
            (try SecretVersions.findActive(kind: .token, owner: "connection:ghe", in: db),
             try SecretVersions.sealed(kind: .token, owner: "connection:ghe", version: 1, in: db))
        }
        let v = try #require(version)
        #expect(v.attributes["user"] == "ci-bot")
        let opened = try ringB.open(try #require(sealed), for: v.binding)
        #expect(opened.withUnsafeBytes { String(decoding: $0, as: UTF8.self) } == "glpat-shared-by-the-fleet")
        // A revocation on B destroys the material for A too.
        _ = try b.database.write { db in try SecretVersions.revoke(kind: .token, owner: "connection:ghe", version: nil, in: db) }
        #expect(try a.database.read { db in try SecretVersions.sealed(kind: .token, owner: "connection:ghe", version: 1, in: db) } == nil)
        // The wrong master key opens nothing on any host.
        let c = try host("c")
        #expect(throws: StoreError.self) { try KeyRing.unlock(store: c, root: try RootKey.generate()) }
    }
}
