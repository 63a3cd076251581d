import Foundation
import LatchkeyCrypto
import LatchkeyStore
import LatchkeyTestSupport
import Testing

/// The SCM columns' bindings (a connection's CA file, a project's deploy-key install
/// switches, each installed key's server id and state, token verification results): a
/// store writer's edit is refused where the row is read, a store from before them is
/// upgraded once at the first unlock, and a store made to look older is refused.
@Suite struct SCMRowBindingTests {
    /// A store with a connection trusting a CA file, a project installing write keys, an
    /// installed key (server id 1042) and a verified token.
    static func populated(_ tag: String) throws -> (String, Store, KeyRing) {
        let (dir, store, ring) = try RowBindingTests.populated(tag)
        try store.database.write { db in
            _ = try Connection.setCAFile("ghe", "/etc/latchkey/corp-ca.pem", in: db)
            _ = try Project.setInstall("web", installDeployKey: true, write: false, in: db)
            try SCMDeployKeys.recordInstalled(project: "web", version: 1, repo: "acme/web", connection: "ghe", serverKeyID: "1042", in: db)
            try TokenVerifications.save(
                TokenVerificationRecord(state: .missingScopes, checkedAt: .now(), user: "ci-bot", scopes: ["read:org"], missing: ["scope repo"]),
                owner: "connection:ghe", version: 1, in: db)
        }
        return (dir, store, ring)
    }

    static func reopen(_ dir: String, _ ring: KeyRing) throws -> Store {
        let store = try Store(directory: dir, create: false)
        _ = try KeyRing.unlock(store: store, root: ring.root)
        return store
    }

    @Test func whatTheDaemonWroteReadsBack() throws {
        let (dir, _, ring) = try Self.populated("scm-good")
        let store = try Self.reopen(dir, ring)
        let (ca, install, ids, missing) = try store.database.read { db in
            (
                try Connection.find("ghe", in: db).connection.caFile, try Project.find("web", in: db).project.installDeployKey,
                try SCMDeployKeys.list(project: "web", in: db).map(\.serverKeyID),
                try TokenVerifications.find(owner: "connection:ghe", version: 1, in: db)?.missing
            )
        }
        #expect(ca == "/etc/latchkey/corp-ca.pem" && install && ids == ["1042"] && missing == ["scope repo"])
        // Changes by the daemon keep them valid: queued, removed, CA cleared, install off.
        try store.database.write { db in
            #expect(try SCMDeployKeys.markRemoving(project: "web", versions: nil, in: db).queued == 1)
            try SCMDeployKeys.markRemoved(project: "web", version: 1, in: db)
            _ = try Connection.setCAFile("ghe", nil, in: db)
            _ = try Project.setInstall("web", installDeployKey: false, write: false, in: db)
        }
        let (states, ca2, install2) = try store.database.read { db in
            (try SCMDeployKeys.list(in: db).map(\.state), try Connection.find("ghe", in: db).connection.caFile, try Project.find("web", in: db).project.installDeployKey)
        }
        #expect(states == [.removed] && ca2 == nil && !install2)
    }

    /// Each edit a writer of the file could make, with the `sqlite3` tool, and the read
    /// that must refuse it (naming the row).
    @Test(arguments: [
        ("UPDATE connection SET ca_file = '/tmp/attacker-ca.pem'", "connection 'ghe' (its CA file)"),
        ("UPDATE connection SET ca_file = NULL", "connection 'ghe' (its CA file)"),
        ("UPDATE project SET deploy_key_write = 1", "project 'web' (its deploy-key install settings)"),
        ("UPDATE project SET install_deploy_key = 0", "project 'web' (its deploy-key install settings)"),
        ("UPDATE scm_deploy_key SET server_key_id = '7'", "scm_deploy_key of project 'web' v1"),
        ("UPDATE scm_deploy_key SET repo = 'acme/other'", "scm_deploy_key of project 'web' v1"),
        ("INSERT INTO scm_deploy_key(project, version, repo, connection, state, server_key_id, updated_at) VALUES ('web', 2, 'acme/web', 'ghe', 'removing', '7', '2026-12-01T00:00:00.000000Z')",
         "scm_deploy_key of project 'web' v2"),
        ("UPDATE token_verification SET state = 'ok', missing = '[]'", "token_verification of connection:ghe v1"),
    ])
    func anEditedSCMColumnIsRefused(_ edit: String, _ named: String) throws {
        let (dir, store, ring) = try Self.populated("scm-edit")
        #expect(sqlite(store.path, edit).status == 0)
        let reopened = try Self.reopen(dir, ring)
        let error = try #require(throws: StoreError.self) {
            try reopened.database.read { db in
                _ = try Connection.all(in: db)
                _ = try Project.all(in: db)
                _ = try SCMDeployKeys.list(in: db)
                _ = try TokenVerifications.all(ownerPrefix: "connection:", in: db)
            }
        }
        #expect(error.code == "binding_failed" && error.description.contains(named), "\(error)")
    }

    @Test func aPlantedRemovalIsNeverDueAndIsReported() throws {
        let (dir, store, ring) = try Self.populated("scm-plant")
        #expect(sqlite(store.path, "UPDATE scm_deploy_key SET state = 'removing', server_key_id = '7', next_attempt_at = NULL").status == 0)
        let reopened = try Self.reopen(dir, ring)
        let (due, refused) = try reopened.database.read { db in try SCMDeployKeys.dueRemovals(in: db) }
        #expect(due.isEmpty, "the daemon never deletes a key id a writer chose")
        #expect(refused.map(\.code) == ["binding_failed"])
        // Queuing removals (a revocation) goes on past an edited row, and reports it.
        #expect(sqlite(store.path, "UPDATE scm_deploy_key SET state = 'installed'").status == 0)
        let r = try reopened.database.write { db in try SCMDeployKeys.markRemoving(project: "web", versions: nil, in: db) }
        #expect(r.queued == 0 && r.refused.count == 1)
    }

    /// A store wrapped as `latchkey/kek/v2` (bindings, but not yet of the SCM columns), as
    /// the master key's holder could make it: the SCM MACs gone, token results gone.
    static func asV2(_ store: Store, _ ring: KeyRing) {
        let wrapped = Hex.encode(ring.root.wrap(ring.kek, format: .rowBindings))
        let r = sqlite(store.path, """
            UPDATE connection SET scm_binding_mac = NULL; UPDATE project SET scm_binding_mac = NULL;
            UPDATE scm_deploy_key SET binding_mac = NULL; DELETE FROM token_verification;
            UPDATE key_generation SET wrapped_kek = X'\(wrapped)';
            """)
        precondition(r.status == 0, r.output)
    }

    @Test func aStoreFromBeforeTheSCMBindingsIsUpgradedAtTheFirstUnlock() throws {
        let (dir, store, ring) = try Self.populated("scm-upgrade")
        Self.asV2(store, ring)
        let reopened = try Store(directory: dir, create: false)
        let upgraded = try KeyRing.unlock(store: reopened, root: ring.root) { s, _ in
            #expect(sqlite(s.path, "SELECT count(*) FROM connection WHERE scm_binding_mac IS NOT NULL").output.hasPrefix("0"), "nothing written yet")
        }
        #expect(upgraded.generation == ring.generation + 1, "a new generation, wrapped as v3")
        #expect(sqlite(store.path, "SELECT value FROM metadata WHERE key = 'scm_bindings'").output.hasPrefix("v1"))
        let (ca, ids) = try reopened.database.read { db in
            (try Connection.find("ghe", in: db).connection.caFile, try SCMDeployKeys.list(project: "web", in: db).map(\.serverKeyID))
        }
        #expect(ca == "/etc/latchkey/corp-ca.pem" && ids == ["1042"])
        // Every data key moved to the new generation (the old v2 wrap opens none of them).
        let sealed = try #require(try reopened.database.read { db in try SecretVersions.sealed(kind: .token, owner: "connection:ghe", version: 1, in: db) })
        #expect(sealed.generation == upgraded.generation)
        // A second unlock changes nothing.
        let again = try KeyRing.unlock(store: try Store(directory: dir, create: false), root: ring.root)
        #expect(again.generation == upgraded.generation)
    }

    @Test func aBoundStoreMadeToLookOlderIsRefusedNotRebound() throws {
        let (dir, store, ring) = try Self.populated("scm-rollback")
        // An old (v2) wrap copied in, and the CA file edited, but the SCM MACs left (a writer
        // cannot remove every trace of them without also being able to forge them).
        let v2 = Hex.encode(ring.root.wrap(ring.kek, format: .rowBindings))
        #expect(sqlite(store.path, "UPDATE key_generation SET wrapped_kek = X'\(v2)'; UPDATE connection SET ca_file = '/tmp/attacker-ca.pem'").status == 0)
        let before = sqlite(store.path, ".dump").output
        let refusal = try #require(throws: StoreError.self) { try KeyRing.unlock(store: try Store(directory: dir, create: false), root: ring.root) }
        #expect(refusal.description.contains("rolled back"), "\(refusal)")
        #expect(sqlite(store.path, ".dump").output == before, "nothing written")
    }
}
