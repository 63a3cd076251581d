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

    /// The checkpoint lines of a daemon's log, as (id, seq, head).
    func checkpointLines(_ log: String) -> [(id: Int, seq: Int, head: String)] {
        log.split(separator: "\n").compactMap { line -> (Int, Int, String)? in
            guard let at = line.range(of: "audit checkpoint v2 ") else { return nil }
            var fields: [String: String] = [:]
            for token in line[at.upperBound...].split(separator: " ") {
                let kv = token.split(separator: "=", maxSplits: 1)
                if kv.count == 2 { fields[String(kv[0])] = String(kv[1].prefix { $0.isHexDigit || $0.isNumber }) }
            }
            guard let id = fields["id"].flatMap(Int.init), let seq = fields["seq"].flatMap(Int.init), let head = fields["head"] else { return nil }
            return (id, seq, head)
        }
    }

    /// A backup, then more writes, then a checkpoint the operator keeps (the daemon's log):
    /// `backup verify` says the backup is older than it and by how much, `restore` asks
    /// before making a store that lacks those rows, and `audit verify --log` on the restored
    /// store reports it as restored from an older backup.
    @Test func aStoreRestoredFromAnOlderBackupIsReportedBehindTheCheckpointYouHold() throws {
        let d = try DaemonProcess()
        #expect(d.cli(["connection", "add", "local", "--kind", "gitlab", "--url", "https://git.example.com"]).status == 0)
        #expect(d.cli(["project", "add", "web", "--connection", "local", "--repo", "acme/web"]).status == 0)
        #expect(d.cli(["deploy-key", "create", "web"]).status == 0)
        let publicKey = try auditPublicKey(d)
        let file = d.root + "/older.backup"
        let backup = d.cli(["backup", "--out", file, "--json"])
        #expect(backup.status == 0, "\(backup.err)")
        let backupEnds = try #require(try json(backup.out)["lastAuditSeq"] as? Int)
        // The daemon goes on: a revocation and more projects after the backup.
        #expect(d.cli(["deploy-key", "revoke", "web"]).status == 0)
        for i in 0..<5 { #expect(d.cli(["project", "add", "later\(i)", "--connection", "local", "--repo", "acme/l\(i)"]).status == 0) }
        d.stop()  // its final checkpoint goes to the log
        let held = try #require(checkpointLines(d.log).last, "the daemon logs its checkpoints: \(d.log)")
        #expect(held.seq > backupEnds)
        let expect = "\(held.id):\(held.seq):\(held.head)"

        // backup verify: intact, and older than the checkpoint you hold, by how much.
        let verify = sh([latchkeyBinary, "backup", "verify", file, "--public-key", publicKey, "--expect-checkpoint", expect, "--json"])
        #expect(verify.status == 0, "\(verify.out)\(verify.err)")
        let behind = try #require(try json(verify.out)["behindCheckpoint"] as? [String: Any], "\(verify.out)")
        #expect(behind["checkpointSeq"] as? Int == held.seq && behind["backupEndsAt"] as? Int == backupEnds, "\(behind)")
        let text = sh([latchkeyBinary, "backup", "verify", file, "--public-key", publicKey, "--log", d.logPath])
        #expect(text.status == 0 && text.out.contains("this backup ends at seq \(backupEnds); the checkpoint you hold"), "\(text.out)\(text.err)")
        #expect(text.out.contains("covers seq \(held.seq) > \(backupEnds)"))
        // A checkpoint the backup does hold, with another head: that is a forgery, refused.
        let ownLines = checkpointLines(d.log).filter { $0.seq <= backupEnds }
        let own = try #require(ownLines.last)
        let forged = "\(own.id):\(own.seq):" + String(repeating: "0", count: 64)
        let refused = sh([latchkeyBinary, "backup", "verify", file, "--public-key", publicKey, "--expect-checkpoint", forged])
        #expect(refused.status == 65 && refused.out.contains("is not in the log as signed"), "\(refused.out)\(refused.err)")

        // restore asks before it makes a store that lacks the rows after the backup.
        let target = makeTempDirectory("restored-older") + "/data"
        let asked = sh([latchkeyBinary, "restore", file, "--data-dir", target, "--public-key", publicKey, "--log", d.logPath])
        #expect(asked.status == 65 && asked.err.contains("--accept-older"), "\(asked.err)")
        #expect(!FileManager.default.fileExists(atPath: target + "/latchkey.db"), "nothing restored")
        let restore = sh([latchkeyBinary, "restore", file, "--data-dir", target, "--public-key", publicKey, "--log", d.logPath, "--accept-older"])
        #expect(restore.status == 0 && restore.out.contains("covers seq \(held.seq) > \(backupEnds)"), "\(restore.out)\(restore.err)")

        // audit verify on the restored store: intact on its own, behind what the log holds.
        #expect(sh([latchkeyBinary, "audit", "verify", "--data-dir", target, "--public-key", publicKey]).status == 0)
        let audit = sh([latchkeyBinary, "audit", "verify", "--data-dir", target, "--public-key", publicKey, "--log", d.logPath])
        #expect(audit.status == 65, "\(audit.out)\(audit.err)")
        #expect(audit.out.contains("this store ends at seq \(backupEnds); the checkpoint you hold"), "\(audit.out)")
        #expect(audit.out.contains("covers seq \(held.seq) > \(backupEnds): the store was restored from an older backup"), "\(audit.out)")
        let byHand = sh([latchkeyBinary, "audit", "verify", "--data-dir", target, "--public-key", publicKey, "--expect-checkpoint", expect])
        #expect(byHand.status == 65 && byHand.out.contains("restored from an older backup"), "\(byHand.out)")
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
