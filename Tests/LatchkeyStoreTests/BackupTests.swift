import LatchkeyTestSupport
import Foundation
import LatchkeyCrypto
import LatchkeyStore
import Synchronization
import Testing

private func token(_ s: String) throws -> SecretBytes {
    var b = Array(s.utf8)
    return try SecretBytes(consuming: &b)
}

/// What the writer thread and the test share.
private final class WriterState: Sendable {
    let committed = Atomic<Int>(0)
    let stop = Atomic<Bool>(false)
}

@Suite struct BackupTests {
    /// Versions of one token, each committed by its own transaction, from another thread
    /// while the snapshot is taken: every version committed before the snapshot began is
    /// in it, and the snapshot is a file that restores and opens with the same key.
    @Test func aSnapshotTakenDuringWritesHoldsEveryEarlierCommit() throws {
        let dir = makeTempDirectory("backup-live") + "/data"
        let store = try Store(directory: dir, create: true)
        let ring = try KeyRing.initialize(store: store, source: .keyFile(path: dir + "/../master.key"))
        @Sendable func put(_ i: Int) throws {
            _ = try store.database.write { db in
                try SecretVersions.add(kind: .token, owner: "connection:ci\(i)", grace: .zero, keyRing: ring, in: db) { _ in
                    (try token("glpat-backup-\(i)"), ["n": String(i)])
                }
            }
        }
        for i in 0..<50 { try put(i) }
        let state = WriterState()
        state.committed.store(50, ordering: .sequentiallyConsistent)
        let writer = Thread {
            var i = 50
            while !state.stop.load(ordering: .relaxed) {
                guard (try? put(i)) != nil else { return }
                state.committed.store(i + 1, ordering: .sequentiallyConsistent)
                i += 1
            }
        }
        writer.start()
        while state.committed.load(ordering: .sequentiallyConsistent) < 80 { usleep(1000) }
        let before = state.committed.load(ordering: .sequentiallyConsistent)
        let file = dir + "/../backup.db"
        try StoreBackup.snapshot(store, to: file)
        state.stop.store(true, ordering: .relaxed)
        while !writer.isFinished { usleep(1000) }

        var st = stat()
        stat(file, &st)
        #expect(st.st_mode & 0o777 == 0o600)
        let facts = try StoreBackup.inspect(file)
        #expect(facts.sealedSecrets >= before, "\(facts.sealedSecrets) sealed versions, \(before) committed before the snapshot")
        #expect(facts.schemaVersion >= 1)
        // The backup is in rollback-journal mode: nothing appears beside it when read.
        #expect(!FileManager.default.fileExists(atPath: file + "-wal"))

        let restored = makeTempDirectory("backup-restored") + "/data"
        try StoreBackup.restore(file, into: restored)
        let reopened = try Store(directory: restored, create: false)
        let again = try KeyRing.unlock(store: reopened, root: try KeyFile.read(path: dir + "/../master.key"))
        let opened = try StoreBackup.openSealedSecrets(reopened, keyRing: again)
        #expect(opened.opened == facts.sealedSecrets && opened.failed.isEmpty)
        // Every token committed before the snapshot is there.
        let owners = Set(try reopened.database.read { db in
            try String.fetchAll(db, sql: "SELECT owner FROM secret_version WHERE kind = 'token'")
        })
        for i in 0..<before { #expect(owners.contains("connection:ci\(i)"), "token \(i) committed before the snapshot is missing") }
        // Only ciphertext: no token is in the file.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        #expect(bytes.range(of: Data("glpat-backup-1".utf8)) == nil)
    }

    @Test func aSnapshotRefusesToOverwriteAFile() throws {
        let dir = makeTempDirectory("backup-exists") + "/data"
        let store = try Store(directory: dir, create: true)
        _ = try KeyRing.initialize(store: store, source: .keyFile(path: dir + "/../master.key"))
        let file = dir + "/../taken.db"
        FileManager.default.createFile(atPath: file, contents: Data("keep".utf8))
        #expect(throws: StoreError.self) { try StoreBackup.snapshot(store, to: file) }
        #expect(FileManager.default.contents(atPath: file) == Data("keep".utf8))
    }

    /// Damage of every kind is refused before anything is written, and a restore into a
    /// directory that holds anything is refused.
    @Test func damagedBackupsAndNonEmptyTargetsAreRefused() throws {
        let base = makeTempDirectory("backup-damage")
        let store = try Store(directory: base + "/data", create: true)
        let ring = try KeyRing.initialize(store: store, source: .keyFile(path: base + "/master.key"))
        for i in 0..<40 {
            _ = try store.database.write { db in
                try SecretVersions.add(kind: .token, owner: "connection:ci\(i)", grace: .zero, keyRing: ring, in: db) { _ in
                    (try token("glpat-damage-\(i)-" + String(repeating: "x", count: 200)), [:])
                }
            }
        }
        let good = base + "/good.db"
        try StoreBackup.snapshot(store, to: good)
        let original = try Data(contentsOf: URL(fileURLWithPath: good))
        #expect(original.count > 8192)
        // A b-tree page whose type byte is no page type SQLite knows.
        var btree = original
        let pageSize = Int(original[16]) << 8 | Int(original[17])
        btree[pageSize] = 0xff
        var badHeader = original
        badHeader.replaceSubrange(0..<16, with: Data("not an sqlite db".utf8))
        let cases: [(String, Data)] = [
            ("empty", Data()),
            ("truncated", original.prefix(original.count / 2)),
            ("btree", btree),
            ("header", badHeader),
            ("text", Data("hello\n".utf8)),
        ]
        for (name, bytes) in cases {
            let path = base + "/\(name).db"
            FileManager.default.createFile(atPath: path, contents: bytes, attributes: [.posixPermissions: 0o600])
            #expect(throws: StoreError.self, "\(name) was accepted") { try StoreBackup.inspect(path) }
            let target = base + "/restore-\(name)"
            #expect(throws: StoreError.self, "\(name) was restored") { try StoreBackup.restore(path, into: target) }
            #expect(!FileManager.default.fileExists(atPath: target + "/latchkey.db"))
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == bytes, "\(name) was changed by inspecting it")
            #expect(!FileManager.default.fileExists(atPath: path + "-wal") && !FileManager.default.fileExists(atPath: path + "-journal"))
        }
        // A byte changed inside a sealed payload leaves the file's structure sound: the
        // secret then fails to open with the master key (what `backup verify --key-file`
        // and `restore --key-file` check).
        let sealed = try store.database.read { db in
            try Data.fetchOne(db, sql: "SELECT sealed_payload FROM secret_version WHERE owner = 'connection:ci7'")!
        }
        let at = original.range(of: sealed)!.lowerBound + sealed.count / 2
        var flipped = original
        flipped[at] ^= 0x01
        let flippedPath = base + "/flipped.db"
        FileManager.default.createFile(atPath: flippedPath, contents: flipped, attributes: [.posixPermissions: 0o600])
        _ = try StoreBackup.inspect(flippedPath)
        let copy = base + "/flipped-copy"
        try StoreBackup.restore(flippedPath, into: copy)
        let opened = try StoreBackup.openSealedSecrets(try Store(directory: copy, create: false), keyRing: ring)
        #expect(opened.opened == 39 && opened.failed == ["token connection:ci7 v1"], "\(opened)")
        // A WAL-mode database (e.g. the live store file copied by hand) is not a backup.
        #expect(throws: StoreError.self) { try StoreBackup.inspect(store.path) }
        // A non-empty target directory is refused and left as it was.
        let busy = base + "/busy"
        mkdir(busy, 0o700)
        FileManager.default.createFile(atPath: busy + "/notes.txt", contents: Data("x".utf8))
        #expect(throws: StoreError.self) { try StoreBackup.restore(good, into: busy) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: busy) == ["notes.txt"])
        // An empty one is fine.
        let empty = base + "/empty"
        mkdir(empty, 0o700)
        try StoreBackup.restore(good, into: empty)
        #expect(try StoreBackup.inspect(empty + "/latchkey.db").sealedSecrets == 40)
    }
}
