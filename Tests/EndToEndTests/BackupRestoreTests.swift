import Foundation
import LatchkeyAPI
import LatchkeyClient
import LatchkeyTestSupport
import Synchronization
import Testing

/// `latchkey backup` against a daemon that goes on releasing and writing, `backup
/// verify` and `restore` offline, and `serve` on the restored store with the original key.
@Suite(.serialized) struct BackupRestoreTests {
    /// What the load threads share with the test.
    final class Load: Sendable {
        let stop = Atomic<Bool>(false)
        let releases = Atomic<Int>(0)
        let releaseFailures = Atomic<Int>(0)
        /// Projects whose `project add` was answered 201, in order.
        let acknowledged = Mutex<[String]>([])
    }

    func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "not JSON: \(text)")
    }

    func auditPublicKey(_ d: DaemonProcess) throws -> String {
        let path = d.root + "/audit.pub"
        let r = d.cli(["audit", "public-key"])
        try r.out.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func aBackupTakenUnderLoadRestoresEveryAcknowledgedWrite() throws {
        let d = try DaemonProcess()
        #expect(d.cli(["connection", "add", "local", "--kind", "gitlab", "--url", "https://git.example.com"]).status == 0)
        #expect(d.cli(["project", "add", "web", "--connection", "local", "--repo", "acme/web"]).status == 0)
        #expect(d.cli(["deploy-key", "create", "web"]).status == 0)
        let secret = "glpat-backup-" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16)
        #expect(d.cli(["token", "put", "local", "--no-verify", "--username", "ci"], stdin: secret + "\n").status == 0)
        let opened = try json(d.cli(["session", "open", "web", "--build", "load", "--uses", "100000", "--ttl", "30m", "--json"]).out)
        let token = try #require(opened["token"] as? String)
        let publicKey = try auditPublicKey(d)

        let load = Load()
        let socket = d.socket
        let releaser = Thread {
            guard let client = try? LatchkeyClient(socketPath: socket) else { return }
            while !load.stop.load(ordering: .relaxed) {
                if (try? client.call("GET", "/v1/session/deploy-key", bearer: token) as [UInt8]) != nil {
                    load.releases.add(1, ordering: .relaxed)
                } else {
                    load.releaseFailures.add(1, ordering: .relaxed)
                }
            }
        }
        let writer = Thread {
            guard let client = try? LatchkeyClient(socketPath: socket) else { return }
            var i = 0
            while !load.stop.load(ordering: .relaxed) {
                let name = "p\(i)"
                if (try? client.call("POST", "/v1/projects", body: ProjectRequest(name: name, connection: "local", repo: "acme/\(name)")) as ProjectInfo) != nil {
                    load.acknowledged.withLock { $0.append(name) }
                }
                i += 1
            }
        }
        releaser.start()
        writer.start()
        while load.acknowledged.withLock({ $0.count }) < 20 || load.releases.load(ordering: .relaxed) < 50 { usleep(10_000) }
        // Everything acknowledged before the backup starts must be in it.
        let before = Set(load.acknowledged.withLock { $0 })
        let releasesBefore = load.releases.load(ordering: .relaxed)
        let file = d.root + "/nightly.backup"
        let backup = d.cli(["backup", "--out", file, "--json"])
        // The daemon went on releasing and writing while it was taken.
        usleep(300_000)
        load.stop.store(true, ordering: .relaxed)
        while !releaser.isFinished || !writer.isFinished { usleep(10_000) }
        #expect(backup.status == 0, "\(backup.err)")
        #expect(load.releases.load(ordering: .relaxed) > releasesBefore)
        #expect(load.releaseFailures.load(ordering: .relaxed) == 0)
        let facts = try json(backup.out)
        #expect((facts["containsMasterKey"] as? Bool) == false)
        let lastSeq = try #require(facts["lastAuditSeq"] as? Int)
        #expect(lastSeq > releasesBefore)
        var st = stat()
        #expect(stat(file, &st) == 0 && st.st_mode & 0o777 == 0o600)
        // The backup itself is audited.
        #expect(d.cli(["audit", "list", "--action", "store.backup", "--outcome", "granted", "--json"]).out.contains("store.backup"))
        // Sealed data only: neither the token nor the master key is in the file.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        #expect(bytes.range(of: Data(secret.utf8)) == nil)
        #expect(bytes.range(of: try Data(contentsOf: URL(fileURLWithPath: d.keyFile))) == nil)

        // Offline: integrity, schema, chain with the key the auditor kept, every secret opens.
        let verify = sh([latchkeyBinary, "backup", "verify", file, "--public-key", publicKey, "--key-file", d.keyFile, "--json"])
        #expect(verify.status == 0, "\(verify.out)\(verify.err)")
        let report = try json(verify.out)
        #expect((report["intact"] as? Bool) == true && (report["auditIntact"] as? Bool) == true)
        #expect((report["secretsOpened"] as? Int) == (report["sealedSecrets"] as? Int) && (report["sealedSecrets"] as? Int ?? 0) >= 2)
        #expect((report["lastAuditSeq"] as? Int) == lastSeq)
        d.stop()

        // Restore elsewhere and serve it with the original key.
        let restored = makeTempDirectory("restored") + "/data"
        let restore = sh([latchkeyBinary, "restore", file, "--data-dir", restored, "--public-key", publicKey, "--key-file", d.keyFile])
        #expect(restore.status == 0, "\(restore.err)")
        let chain = sh([latchkeyBinary, "audit", "verify", "--data-dir", restored, "--public-key", publicKey])
        #expect(chain.status == 0, "\(chain.out)\(chain.err)")
        let again = try DaemonProcess(dataDir: restored, keyFile: d.keyFile)
        let list = try JSONSerialization.jsonObject(with: Data(again.cli(["project", "list", "--json"]).out.utf8)) as? [[String: Any]] ?? []
        let names = Set(list.compactMap { $0["name"] as? String })
        #expect(before.isSubset(of: names), "missing after restore: \(before.subtracting(names).sorted())")
        // It releases: the deploy key and the token open with the original master key.
        let session = try json(again.cli(["session", "open", "web", "--build", "after", "--grant", "deploy-key", "--grant", "token", "--json"]).out)
        let t = try #require(session["token"] as? String)
        let fetched = again.cli(["fetch", "token"], env: ["LATCHKEY_SESSION": t])
        #expect(fetched.status == 0 && fetched.out.contains(secret), "\(fetched.err)")
        #expect(again.cli(["fetch", "deploy-key"], env: ["LATCHKEY_SESSION": t]).out.contains("OPENSSH PRIVATE KEY"))
    }

    @Test func aDamagedBackupIsRefusedByVerifyAndRestore() throws {
        let d = try DaemonProcess()
        #expect(d.cli(["connection", "add", "local", "--kind", "gitlab", "--url", "https://git.example.com"]).status == 0)
        for i in 0..<30 { #expect(d.cli(["project", "add", "p\(i)", "--connection", "local", "--repo", "acme/p\(i)"]).status == 0) }
        #expect(d.cli(["deploy-key", "create", "p0"]).status == 0)
        let publicKey = try auditPublicKey(d)
        let good = d.root + "/good.backup"
        #expect(d.cli(["backup", "--out", good]).status == 0)
        #expect(sh([latchkeyBinary, "backup", "verify", good, "--public-key", publicKey]).status == 0)
        let original = try Data(contentsOf: URL(fileURLWithPath: good))

        var cases: [(String, Data)] = [("truncated", original.prefix(original.count / 2)), ("empty", Data())]
        // A page's b-tree header destroyed.
        var btree = original
        let pageSize = Int(original[16]) << 8 | Int(original[17])
        btree[pageSize * 2] = 0xff
        cases.append(("btree", btree))
        // An audit row rewritten by a store writer who drops the triggers: the file is
        // sound, the chain is not.
        let edited = d.root + "/edited.backup"
        try original.write(to: URL(fileURLWithPath: edited))
        for t in sh(["sqlite3", edited, "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit'"]).out.split(separator: "\n") {
            #expect(sh(["sqlite3", edited, "DROP TRIGGER \"\(t)\""]).status == 0)
        }
        let sql = sh(["sqlite3", edited, "UPDATE audit SET actor_uid = 4242 WHERE seq = 5"])
        #expect(sql.status == 0, "\(sql.err)")
        cases.append(("edited-audit-row", try Data(contentsOf: URL(fileURLWithPath: edited))))

        for (name, bytes) in cases {
            let path = d.root + "/\(name).backup"
            FileManager.default.createFile(atPath: path, contents: bytes, attributes: [.posixPermissions: 0o600])
            let verify = sh([latchkeyBinary, "backup", "verify", path, "--public-key", publicKey, "--key-file", d.keyFile])
            #expect(verify.status == 65, "\(name): verify exited \(verify.status): \(verify.out)\(verify.err)")
            let target = d.root + "/restore-\(name)"
            let restore = sh([latchkeyBinary, "restore", path, "--data-dir", target, "--public-key", publicKey])
            #expect(restore.status == 65, "\(name): restore exited \(restore.status): \(restore.err)")
            #expect(!FileManager.default.fileExists(atPath: target + "/latchkey.db"), "\(name) was restored")
        }
        // A non-empty directory is refused; the good backup restores into an empty one.
        let busy = d.root + "/busy"
        mkdir(busy, 0o700)
        FileManager.default.createFile(atPath: busy + "/keep", contents: Data("x".utf8))
        #expect(sh([latchkeyBinary, "restore", good, "--data-dir", busy]).status != 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: busy) == ["keep"])
        #expect(sh([latchkeyBinary, "restore", good, "--data-dir", d.root + "/fresh"]).status == 0)
    }

    @Test func onlyAdminsTakeBackups() throws {
        let d = try DaemonProcess()
        chmod(d.socket, 0o666)
        chmod(d.root, 0o755)
        let nobody: UInt32 = 65534
        let out = makeTempDirectory("nobody-backup")
        chmod(out, 0o777)
        let r = d.cli(["backup", "--out", out + "/b.db"], asUID: nobody)
        #expect(r.status == 77 && r.err.contains("not_admin"), "\(r.err)")
        #expect(!FileManager.default.fileExists(atPath: out + "/b.db"))
        #expect(d.cli(["audit", "list", "--action", "store.backup", "--outcome", "denied", "--json"]).out.contains("store.backup"))
    }
}
