import Foundation
import LatchkeyCrypto
import LatchkeyStore
import LatchkeyTestSupport
import Testing

/// The row bindings' life: a store from before them is upgraded once, at the first unlock
/// (the upgrade needs the master key, so it cannot run as a plain schema migration); a
/// bound store never rebinds, whatever a store writer does to make it look unbound.
@Suite struct RowBindingTests {
    /// A store with a connection, a project and a token, unlocked with its key ring.
    static func populated(_ tag: String) throws -> (String, Store, KeyRing) {
        let dir = makeTempDirectory(tag)
        let store = try Store(directory: dir, create: true)
        let ring = try KeyRing.initialize(store: store, source: .keyFile(path: dir + "/master.key"))
        try store.database.write { db in
            try Connection.insert(try Connection(name: "ghe", kind: .githubEnterprise, webURL: "https://ghe.example.com", apiURL: nil, sshURL: nil), in: db)
            try Project.insert(try Project(name: "web", connection: "ghe", repo: "acme/web"), in: db)
            let (cid, _) = try Connection.find("ghe", in: db)
            _ = try SecretVersions.add(kind: .token, owner: "connection:ghe", connectionID: cid, grace: .zero, keyRing: ring, in: db) { _ in
                var b = Array("ghp_rowbinding".utf8)
                return (try SecretBytes(consuming: &b), ["username": "ci-bot"])
            }
        }
        return (dir, store, ring)
    }

    /// Turns a bound store back into the form stores had before bindings (which only the
    /// master key's holder could do: the key generation is re-wrapped as v1).
    static func unbind(_ store: Store, _ ring: KeyRing) {
        let wrapped = Hex.encode(ring.root.wrapUnbound(ring.kek))
        let r = sqlite(store.path, """
            UPDATE secret_version SET binding_mac = NULL; UPDATE project SET binding_mac = NULL; UPDATE connection SET binding_mac = NULL;
            UPDATE project SET scm_binding_mac = NULL; UPDATE connection SET scm_binding_mac = NULL; UPDATE scm_deploy_key SET binding_mac = NULL;
            DELETE FROM token_verification;
            DELETE FROM secret_version WHERE owner = 'daemon:binding';
            UPDATE key_generation SET wrapped_kek = X'\(wrapped)';
            """)
        precondition(r.status == 0, r.output)
    }

    @Test func aStoreFromBeforeBindingsIsUpgradedAtTheFirstUnlock() throws {
        let (dir, store, ring) = try Self.populated("upgrade")
        Self.unbind(store, ring)
        let reopened = try Store(directory: dir, create: false)
        var checkedBeforeWriting = false
        let upgraded = try KeyRing.unlock(store: reopened, root: ring.root) { s, key in
            checkedBeforeWriting = key == ring.auditSigning.publicKey
            #expect(sqlite(s.path, "SELECT count(*) FROM secret_version WHERE binding_mac IS NOT NULL").output.hasPrefix("0"), "nothing written yet")
        }
        #expect(checkedBeforeWriting)
        #expect(upgraded.generation == ring.generation + 2, "each upgrade re-wraps under a new generation (v2, then v3 for the SCM columns)")
        #expect(sqlite(store.path, "SELECT count(*) FROM secret_version WHERE kind != 'subkey' AND binding_mac IS NULL").output.hasPrefix("0"))
        #expect(sqlite(store.path, "SELECT value FROM metadata WHERE key = 'row_bindings'").output.hasPrefix("v1"))
        let versions = try reopened.database.read { db in try SecretVersions.list(kind: .token, owner: "connection:ghe", in: db) }
        #expect(versions.map(\.attributes["username"]) == ["ci-bot"])
        #expect(try reopened.database.read { db in try Project.find("web", in: db).project.connection } == "ghe")
        // The token still opens after the upgrade's re-wrap.
        let sealed = try #require(try reopened.database.read { db in try SecretVersions.sealed(kind: .token, owner: "connection:ghe", version: 1, in: db) })
        #expect(try upgraded.open(sealed, for: versions[0].binding).constantTimeEquals(Array("ghp_rowbinding".utf8)))
    }

    @Test func aBoundStoreMadeToLookUnboundIsRefusedNotRebound() throws {
        let (dir, store, ring) = try Self.populated("downgrade")
        // A writer copies an old (v1) wrap in from a backup but cannot remove every trace of
        // the bindings without also being able to forge them: refused.
        let v1 = Hex.encode(ring.root.wrapUnbound(ring.kek))
        #expect(sqlite(store.path, "UPDATE key_generation SET wrapped_kek = X'\(v1)'").status == 0)
        let reopened = try Store(directory: dir, create: false)
        let refusal = try #require(throws: StoreError.self) { try KeyRing.unlock(store: reopened, root: ring.root) }
        #expect(refusal.description.contains("rolled back"), "\(refusal)")
    }

    @Test func aRowWhoseMACWasRemovedFailsItsBinding() throws {
        let (dir, store, ring) = try Self.populated("nullmac")
        #expect(sqlite(store.path, "UPDATE secret_version SET binding_mac = NULL, attributes = '{\"username\":\"root\"}' WHERE owner = 'connection:ghe'").status == 0)
        let reopened = try Store(directory: dir, create: false)
        _ = try KeyRing.unlock(store: reopened, root: ring.root)
        let error = try #require(throws: StoreError.self) {
            try reopened.database.read { db in try SecretVersions.list(kind: .token, owner: "connection:ghe", in: db) }
        }
        #expect(error.code == "binding_failed" && error.description.contains("token connection:ghe v1"), "\(error)")
        #expect(sqlite(store.path, "SELECT count(*) FROM secret_version WHERE binding_mac IS NULL AND kind != 'subkey'").output.hasPrefix("1"), "not rebound")
    }

    @Test func aDamagedRowOfAConnectionWhoseNameExtendsAnothersStaysOutOfTheOthersList() throws {
        let (dir, store, ring) = try Self.populated("prefix")
        try store.database.write { db in
            try Connection.insert(try Connection(name: "ghe2", kind: .githubEnterprise, webURL: "https://ghe2.example.com", apiURL: nil, sshURL: nil), in: db)
            let (cid, _) = try Connection.find("ghe2", in: db)
            _ = try SecretVersions.add(kind: .token, owner: "connection:ghe2", connectionID: cid, grace: .zero, keyRing: ring, in: db) { _ in
                var b = Array("ghp_othertoken".utf8)
                return (try SecretBytes(consuming: &b), ["username": "other-bot"])
            }
        }
        #expect(sqlite(store.path, "UPDATE secret_version SET attributes = '{\"username\":\"root\"}' WHERE owner = 'connection:ghe2'").status == 0)
        let reopened = try Store(directory: dir, create: false)
        _ = try KeyRing.unlock(store: reopened, root: ring.root)
        // "connection:ghe" is a prefix of "connection:ghe2": ghe's own list neither shows nor trips on ghe2's row.
        let own = try reopened.database.read { db in try SecretVersions.list(kinds: [.token, .oauthClient], owner: "connection:ghe", in: db) }
        #expect(own.map(\.attributes["username"]) == ["ci-bot"])
        #expect(throws: StoreError.self) {
            try reopened.database.read { db in try SecretVersions.list(kinds: [.token, .oauthClient], owner: "connection:ghe2", in: db) }
        }
    }

    @Test func bindingsStayValidThroughRotationAndRekey() throws {
        let (_, store, ring) = try Self.populated("rotate-bind")
        let newRoot = try RootKey.generate()
        try store.database.write { db in
            _ = try ring.rotate(in: db)
            try ring.rekey(to: newRoot, source: .keyFile, in: db)
        }
        ring.settle(committed: true)
        let versions = try store.database.read { db in try SecretVersions.list(kind: .token, owner: "connection:ghe", in: db) }
        #expect(versions.count == 1)
        #expect(throws: StoreError.self) { try KeyRing.unlock(store: store, root: try KeyFile.read(path: store.directory + "/master.key")) }
        let again = try KeyRing.unlock(store: store, root: newRoot)
        #expect(again.generation == 2)
    }

    @Test func certificatePrincipalsEditedInTheFileAreRefused() throws {
        let (_, store, _) = try Self.populated("certsettings")
        let cid = try store.database.read { db in try Connection.find("ghe", in: db).id }
        try store.database.write { db in
            try CertificateSettings.save(CertificateSettings(principals: ["git"], extensions: ["permit-pty"]), connectionID: cid, in: db)
        }
        #expect(try store.database.read { db in try CertificateSettings.find(connectionID: cid, in: db).principals } == ["git"])
        #expect(sqlite(store.path, "UPDATE connection_certificate_settings SET principals = '[\"root\"]'").status == 0)
        let error = try #require(throws: StoreError.self) { try store.database.read { db in try CertificateSettings.find(connectionID: cid, in: db) } }
        #expect(error.code == "binding_failed" && error.description.contains("certificate settings of connection 'ghe'"), "\(error)")
    }

    @Test func aReadBeforeUnlockIsRefused() throws {
        let (dir, _, _) = try Self.populated("locked")
        let locked = try Store(directory: dir, create: false)
        let error = try #require(throws: StoreError.self) { try locked.database.read { db in try Project.all(in: db) } }
        #expect(error.code == "store_locked")
    }
}
