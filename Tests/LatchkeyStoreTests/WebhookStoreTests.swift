import LatchkeyTestSupport
import Foundation
import LatchkeyCrypto
import LatchkeyStore
import Testing

/// A project's webhook: its secret is a sealed version of its own kind, and its record
/// is bound, so a store writer cannot point the daemon at another hook.
@Suite struct WebhookStoreTests {
    struct Opened {
        let dir: String
        let store: Store
        let ring: KeyRing
    }

    func open() throws -> Opened {
        let dir = makeTempDirectory("hook")
        let store = try Store(directory: dir, create: true)
        let ring = try KeyRing.initialize(store: store, source: .keyFile(path: dir + "/master.key"))
        try store.database.write { db in
            try Connection.insert(Connection(name: "ghe", kind: .githubEnterprise, webURL: "https://ghe.example", apiURL: nil, sshURL: nil), in: db)
            try Project.insert(try Project(name: "web", connection: "ghe", repo: "acme/web"), in: db)
        }
        return Opened(dir: dir, store: store, ring: ring)
    }

    static func record(_ state: SCMWebhookRecord.State = .installed, id: String? = "4711") -> SCMWebhookRecord {
        SCMWebhookRecord(
            project: "web", connection: "ghe", repo: "acme/web", url: "https://ci.example/hooks", events: ["push", "pull_request"], state: state,
            serverHookID: id)
    }

    @Test func aWebhookSecretIsSealedUnderItsOwnKindWithVersions() throws {
        let o = try open()
        let marker = "feedfacefeedfacefeedfacefeedfacefeedfacefeedfacefeedfacefeedface"
        let (v1, v2) = try o.store.database.write { db in
            let pid = try Project.find("web", in: db).id
            func add(_ grace: Duration) throws -> SecretVersion {
                try SecretVersions.add(kind: .webhookSecret, owner: "project:web", projectID: pid, grace: grace, keyRing: o.ring, in: db) { _ in
                    var b = Array(marker.utf8)
                    return (try SecretBytes(consuming: &b), [:])
                }
            }
            return (try add(.zero), try add(.seconds(60)))
        }
        #expect(v1.version == 1 && v2.version == 2)
        let versions = try o.store.database.read { db in try SecretVersions.list(kind: .webhookSecret, owner: "project:web", in: db) }
        #expect(versions.map(\.state) == [.retiring, .active])
        let sealed = try #require(try o.store.database.read { db in try SecretVersions.sealed(kind: .webhookSecret, owner: "project:web", version: 2, in: db) })
        #expect(try o.ring.open(sealed, for: v2.binding).constantTimeEquals(Array(marker.utf8)))
        #expect(throws: (any Error).self) { try o.ring.open(sealed, for: RecordBinding(kind: "token", id: "project:web", version: 2)) }
        // A refused rotation puts the previous version back in force; a grace can be cut short.
        try o.store.database.write { db in
            try SecretVersions.revoke(kind: .webhookSecret, owner: "project:web", version: 2, in: db)
            try SecretVersions.reinstate(kind: .webhookSecret, owner: "project:web", version: 1, in: db)
        }
        #expect(try o.store.database.read { db in try SecretVersions.list(kind: .webhookSecret, owner: "project:web", in: db) }.map(\.state) == [.active, .revoked])
        #expect(sqlite(o.store.path, "PRAGMA wal_checkpoint(FULL)").status == 0)
        #expect(runCaptured(["grep", "-r", "-l", "-F", marker, o.dir]).status == 1, "nothing in clear on disk")
    }

    @Test func aRecordReadsBackAsWritten() throws {
        let o = try open()
        try o.store.database.write { db in try SCMWebhooks.save(Self.record(.installing, id: nil), in: db) }
        var r = try #require(try o.store.database.read { db in try SCMWebhooks.find(project: "web", in: db) })
        #expect(r.state == .installing && r.serverHookID == nil && r.events == ["push", "pull_request"])
        r.state = .updating
        r.serverHookID = "4711"
        r.pendingVersion = 2
        let updated = r
        try o.store.database.write { db in try SCMWebhooks.save(updated, in: db) }
        let back = try #require(try o.store.database.read { db in try SCMWebhooks.find(project: "web", in: db) })
        #expect(back.state == .updating && back.serverHookID == "4711" && back.pendingVersion == 2)
        // The schema carries the rules: a hook past `installing` has an id, `updating` a version.
        #expect(sqlite(o.store.path, "UPDATE scm_webhook SET server_hook_id = NULL").status != 0)
        #expect(sqlite(o.store.path, "UPDATE scm_webhook SET pending_version = NULL").status != 0)
        // A project with a hook is not removed from under it.
        #expect(throws: StoreError.self) { try o.store.database.write { db in _ = try Project.remove("web", in: db) } }
    }

    @Test(arguments: [
        "server_hook_id = '1'", "repo = 'acme/other'", "connection = 'other'", "url = 'https://evil.example/'", "events = '[\"push\"]'",
        "state = 'removing'", "created_at = '2020-01-01T00:00:00.000000Z'",
    ])
    func aRowAStoreWriterChangedIsRefused(change: String) throws {
        let o = try open()
        try o.store.database.write { db in try SCMWebhooks.save(Self.record(), in: db) }
        #expect(sqlite(o.store.path, "UPDATE scm_webhook SET \(change)").status == 0)
        #expect {
            _ = try o.store.database.read { db in try SCMWebhooks.find(project: "web", in: db) }
        } throws: { error in
            guard case StoreError.bindingFailed(let row) = error else { return false }
            return row.contains("scm_webhook of project 'web'")
        }
    }

    @Test func whatOnlyExplainsIsNotBound() throws {
        let o = try open()
        try o.store.database.write { db in try SCMWebhooks.save(Self.record(), in: db) }
        #expect(sqlite(o.store.path, "UPDATE scm_webhook SET last_error = 'x', updated_at = '2027-01-01T00:00:00.000000Z'").status == 0)
        #expect(try o.store.database.read { db in try SCMWebhooks.find(project: "web", in: db) }?.lastError == "x")
    }
}
