import LatchkeyTestSupport
import Foundation
import LatchkeyCrypto
import LatchkeyStore
import Testing

func makeTempDirectory(_ tag: String) -> String {
    let d = NSTemporaryDirectory() + "lk-\(tag)-\(UUID().uuidString.prefix(8))"
    mkdir(d, 0o700)
    return d
}

func sqlite(_ db: String, _ sql: String) -> (status: Int32, output: String) {
    let r = runCaptured(["sqlite3", db, sql])
    return (r.status, String(decoding: r.out + r.err, as: UTF8.self))
}

@Suite struct StoreTests {
    @Test func newStoreIsPrivateWALAndFullySynced() throws {
        let dir = makeTempDirectory("store") + "/data"
        let store = try Store(directory: dir, create: true)
        _ = try KeyRing.initialize(store: store, source: .keyFile(path: dir + "/master.key"))
        var st = stat()
        stat(dir, &st)
        #expect(st.st_mode & 0o777 == 0o700)
        stat(store.path, &st)
        #expect(st.st_mode & 0o077 == 0)
        #expect(try store.synchronousLevel() == 2)
        #expect(sqlite(store.path, "PRAGMA journal_mode").output.trimmingCharacters(in: .whitespacesAndNewlines) == "wal")
    }

    @Test func unlocksWithTheRightKeyOnly() throws {
        let dir = makeTempDirectory("unlock")
        let store = try Store(directory: dir, create: true)
        let ring = try KeyRing.initialize(store: store, source: .keyFile(path: dir + "/master.key"))
        let again = try KeyRing.unlock(store: store, root: try KeyFile.read(path: dir + "/master.key"))
        #expect(again.intake.publicKey == ring.intake.publicKey)
        #expect(again.auditSigning.publicKey == ring.auditSigning.publicKey)
        let before = try Data(contentsOf: URL(fileURLWithPath: store.path))
        #expect(throws: StoreError.self) { try KeyRing.unlock(store: store, root: try RootKey.generate()) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: store.path)) == before)
    }

    @Test func passphraseStoreRefusesWrongPassphrase() throws {
        func pass(_ s: String) throws -> SecretBytes {
            var b = Array(s.utf8)
            return try SecretBytes(consuming: &b)
        }
        let dir = makeTempDirectory("pass")
        let store = try Store(directory: dir, create: true)
        _ = try KeyRing.initialize(store: store, source: .passphrase(pass("a long passphrase")), limits: .interactive)
        let good = try KeyRing.rootKey(for: .passphrase(pass("a long passphrase")), store: store)
        _ = try KeyRing.unlock(store: store, root: good)
        let bad = try KeyRing.rootKey(for: .passphrase(pass("a wrong passphrase")), store: store)
        #expect {
            try KeyRing.unlock(store: store, root: bad)
        } throws: { e in
            (e as? StoreError)?.code == "wrong_master_key"
        }
    }

    @Test func refusesDataDirectoryOthersCanAccess() throws {
        let dir = makeTempDirectory("exposed")
        chmod(dir, 0o755)
        #expect {
            try Store(directory: dir, create: true)
        } throws: { e in
            (e as? StoreError)?.code == "data_dir_exposed" && "\(e)".contains("chmod 700")
        }
    }

    @Test func refusesStoreFromNewerSchema() throws {
        let dir = makeTempDirectory("newer")
        let store = try Store(directory: dir, create: true)
        _ = try KeyRing.initialize(store: store, source: .keyFile(path: dir + "/master.key"))
        let path = store.path
        #expect(sqlite(path, "UPDATE metadata SET value = '99' WHERE key = 'schema_version'").status == 0)
        #expect {
            try Store(directory: dir, create: false)
        } throws: { e in
            (e as? StoreError)?.code == "store_newer_schema"
        }
    }

    @Test func refusesFileThatIsNotAStore() throws {
        let dir = makeTempDirectory("garbage")
        FileManager.default.createFile(
            atPath: dir + "/latchkey.db", contents: Data(repeating: 0x41, count: 8192), attributes: [.posixPermissions: 0o600])
        #expect {
            try Store(directory: dir, create: false)
        } throws: { e in
            (e as? StoreError)?.code == "store_corrupt"
        }
        // Not repaired: the bytes are as they were.
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/latchkey.db")) == Data(repeating: 0x41, count: 8192))
    }

    @Test func masterKeyRotationRewrapsEverythingOrNothing() throws {
        let dir = makeTempDirectory("rotate")
        let store = try Store(directory: dir, create: true)
        let ring = try KeyRing.initialize(store: store, source: .keyFile(path: dir + "/master.key"))
        // A rotation that fails half way rolls back: generation 1 stays, all opens work.
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try store.database.write { db in
                _ = try ring.rotate(in: db)
                throw Boom()
            }
        }
        ring.settle(committed: false)
        #expect(ring.generation == 1)
        #expect(sqlite(store.path, "SELECT group_concat(generation) FROM key_generation").output.hasPrefix("1"))
        _ = try KeyRing.unlock(store: store, root: ring.root)
        // A committed rotation: generation 2 only, every data key re-wrapped.
        let (new, count) = try store.database.write { db in try ring.rotate(in: db) }
        #expect(ring.generation == 1, "the new KEK is not active before its transaction is settled")
        ring.settle(committed: true)
        #expect(ring.generation == new.generation)
        #expect(count == 4)  // the intake, audit-signing, hashing and binding sub-keys
        #expect(sqlite(store.path, "SELECT group_concat(DISTINCT generation) FROM secret_version").output.hasPrefix("2"))
        #expect(sqlite(store.path, "SELECT count(*) FROM key_generation").output.hasPrefix("1"))
        let reopened = try KeyRing.unlock(store: store, root: ring.root)
        #expect(reopened.generation == 2)
        #expect(reopened.auditSigning.publicKey == ring.auditSigning.publicKey)
    }
}
