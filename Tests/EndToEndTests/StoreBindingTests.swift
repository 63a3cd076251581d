import Foundation
import LatchkeyTestSupport
import Testing

/// What a store writer without the master key can no longer do to the clear columns:
/// every attribute the daemon shows or acts on is bound to its row, so an edit is refused
/// (with an audit row and a log line naming the row), never acted on; destroyed material
/// is gone from the WAL too; a rekeyed store refuses the old key file.
@Suite(.serialized) struct StoreBindingTests {
    static func sqlite(_ d: DaemonProcess, _ sql: String) -> ToolResult { sh(["sqlite3", d.dataDir + "/latchkey.db", sql]) }

    static func json(_ r: ToolResult) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any]) ?? [:]
    }

    /// The audit rows with reason binding_failed, by action.
    static func bindingRefusals(_ d: DaemonProcess) -> [String] {
        sqlite(d, "SELECT action FROM audit WHERE reason = 'binding_failed' ORDER BY seq").out.split(separator: "\n").map(String.init)
    }

    @Test func editedClearColumnsAreRefusedNotActedOn() throws {
        let d = try DaemonProcess()
        #expect(d.cli(["connection", "add", "ghe", "--kind", "github-enterprise", "--url", "https://ghe.example.com"]).status == 0)
        #expect(d.cli(["connection", "add", "other", "--kind", "github-enterprise", "--url", "https://other.example.com"]).status == 0)
        #expect(d.cli(["project", "add", "web", "--connection", "ghe", "--repo", "acme/web"]).status == 0)
        #expect(d.cli(["deploy-key", "create", "web"]).status == 0)
        #expect(d.cli(["token", "put", "ghe", "--no-verify", "--username", "ci-bot", "--expires", "2099-01-01"], stdin: "ghp_bindingtest0123456789abcdefghijklmno\n").status == 0)
        #expect(d.cli(["token", "put", "other", "--no-verify", "--username", "other-bot"], stdin: "ghp_othertoken0123456789abcdefghijklmnop\n").status == 0)
        let shown = d.cli(["deploy-key", "show", "web", "--json"])
        let realKey = try #require(Self.json(shown)["publicKey"] as? String)

        // 1. The public key an admin would install on the SCM server.
        let attackerKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl latchkey:web:v1"
        let original = Self.sqlite(d, "SELECT attributes FROM secret_version WHERE kind = 'deploy-key'").out.trimmingCharacters(in: .newlines)
        #expect(Self.sqlite(d, "UPDATE secret_version SET attributes = json_set(attributes, '$.public_key', '\(attackerKey)') WHERE kind = 'deploy-key'").status == 0)
        for args in [["deploy-key", "show", "web"], ["deploy-key", "list", "web"], ["project", "show", "web"]] {
            let r = d.cli(args)
            #expect(r.status != 0 && r.err.contains("binding_failed") && !r.out.contains("AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnk"), "\(args): \(r.out) \(r.err)")
        }
        #expect(d.cli(["session", "open", "web", "--build", "b1", "--grant", "deploy-key"]).err.contains("binding_failed"))
        #expect(d.log.contains("secret_version deploy-key project:web v1 does not match its binding"), "a log line names the row")
        // Restored, the row's binding holds again and the real key is shown.
        #expect(Self.sqlite(d, "UPDATE secret_version SET attributes = '\(original)' WHERE kind = 'deploy-key'").status == 0)
        #expect(Self.json(d.cli(["deploy-key", "show", "web", "--json"]))["publicKey"] as? String == realKey)

        // 2. A token's expiry and username.
        for edit in ["json_set(attributes, '$.expires', '2199-01-01')", "json_set(attributes, '$.username', 'admin')"] {
            let before = Self.sqlite(d, "SELECT attributes FROM secret_version WHERE owner = 'connection:ghe'").out.trimmingCharacters(in: .newlines)
            #expect(Self.sqlite(d, "UPDATE secret_version SET attributes = \(edit) WHERE owner = 'connection:ghe'").status == 0)
            let open = d.cli(["session", "open", "web", "--build", "b2", "--grant", "token"])
            #expect(open.status != 0 && open.err.contains("binding_failed") && open.err.contains("token connection:ghe v1"), "\(open.err)")
            #expect(Self.sqlite(d, "UPDATE secret_version SET attributes = '\(before)' WHERE owner = 'connection:ghe'").status == 0)
        }
        // 3. A revoked version turned active again (its material is gone, but it would be shown and pinned).
        #expect(d.cli(["deploy-key", "rotate", "web", "--grace", "0s"]).status == 0)
        #expect(Self.sqlite(d, "UPDATE secret_version SET state = 'active' WHERE kind = 'deploy-key' AND version = 1").status == 0)
        #expect(d.cli(["deploy-key", "list", "web"]).err.contains("binding_failed"))
        #expect(Self.sqlite(d, "UPDATE secret_version SET state = 'revoked' WHERE kind = 'deploy-key' AND version = 1").status == 0)

        // 4. The project pointed at another connection: its builds would get that connection's token.
        let otherID = Self.sqlite(d, "SELECT id FROM connection WHERE name = 'other'").out.trimmingCharacters(in: .newlines)
        let gheID = Self.sqlite(d, "SELECT id FROM connection WHERE name = 'ghe'").out.trimmingCharacters(in: .newlines)
        #expect(Self.sqlite(d, "UPDATE project SET connection_id = \(otherID) WHERE name = 'web'").status == 0)
        let moved = d.cli(["session", "open", "web", "--build", "b3", "--grant", "token", "--json"])
        #expect(moved.status != 0 && moved.err.contains("binding_failed") && moved.err.contains("project 'web'"), "\(moved.out) \(moved.err)")
        #expect(!moved.out.contains("lks_"), "no session, so no token for it")
        // 5. A connection's API URL (where its token is sent) changed.
        #expect(Self.sqlite(d, "UPDATE project SET connection_id = \(gheID) WHERE name = 'web'").status == 0)
        #expect(Self.sqlite(d, "UPDATE connection SET api_url = 'https://attacker.example.net/api/v3' WHERE name = 'ghe'").status == 0)
        #expect(d.cli(["connection", "show", "ghe"]).err.contains("binding_failed"))
        #expect(Self.sqlite(d, "UPDATE connection SET api_url = 'https://ghe.example.com/api/v3' WHERE name = 'ghe'").status == 0)

        // Every refusal left an audit row; with every row restored, the store serves again.
        let refusals = Self.bindingRefusals(d)
        #expect(refusals.contains("deploy-key.show") && refusals.contains("session.open") && refusals.contains("connection.show"), "\(refusals)")
        let open = d.cli(["session", "open", "web", "--build", "b4", "--grant", "token", "--grant", "deploy-key", "--json"])
        #expect(open.status == 0, "\(open.err)")
        let token = try #require(Self.json(open)["token"] as? String)
        #expect(d.cli(["fetch", "token"], env: ["LATCHKEY_SESSION": token]).out.contains("ci-bot"))
        d.stop()
        #expect(sh([latchkeyBinary, "audit", "verify", "--data-dir", d.dataDir]).status == 0)
    }

    @Test func aRevokedKeyCannotBeRecoveredFromTheWAL() throws {
        let d = try DaemonProcess()
        #expect(d.cli(["connection", "add", "ghe", "--kind", "github-enterprise", "--url", "https://ghe.example.com"]).status == 0)
        #expect(d.cli(["project", "add", "web", "--connection", "ghe", "--repo", "acme/web"]).status == 0)
        #expect(d.cli(["deploy-key", "create", "web"]).status == 0)
        // What an attacker with the master key would need: the sealed payload and wrapped data key.
        let sealed = Self.sqlite(d, "SELECT hex(substr(sealed_payload, 1, 48)) || ' ' || hex(substr(wrapped_dek, 1, 48)) FROM secret_version WHERE kind = 'deploy-key'")
            .out.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ").map(String.init)
        #expect(sealed.count == 2 && sealed.allSatisfy { $0.count == 96 })
        func found(_ hex: String) -> Bool {
            let needle = Data(stride(from: 0, to: hex.count, by: 2).map { i in
                UInt8(hex[hex.index(hex.startIndex, offsetBy: i)..<hex.index(hex.startIndex, offsetBy: i + 2)], radix: 16)!
            })
            for name in ["latchkey.db", "latchkey.db-wal"] {
                if let data = FileManager.default.contents(atPath: d.dataDir + "/" + name), data.range(of: needle) != nil { return true }
            }
            return false
        }
        #expect(sealed.allSatisfy(found), "control: the sealed bytes are found while the key is live")
        #expect(d.cli(["deploy-key", "revoke", "web"]).status == 0)
        #expect(!sealed.contains(where: found), "after the revoke neither the file nor the WAL holds them")
        let wal = (try? FileManager.default.attributesOfItem(atPath: d.dataDir + "/latchkey.db-wal")[.size] as? Int) ?? 0
        #expect(wal == 0, "the WAL was truncated (\(wal) bytes)")
        d.stop()
    }

    @Test func rekeyReplacesTheRootKeyAndTheOldKeyFileIsRefused() throws {
        let d = try DaemonProcess()
        #expect(d.cli(["connection", "add", "ghe", "--kind", "github-enterprise", "--url", "https://ghe.example.com"]).status == 0)
        #expect(d.cli(["project", "add", "web", "--connection", "ghe", "--repo", "acme/web"]).status == 0)
        #expect(d.cli(["deploy-key", "create", "web"]).status == 0)
        let newKey = d.root + "/new.key"
        let rekey = d.cli(["master-key", "rekey", "--new-key-file", newKey])
        #expect(rekey.status == 0 && rekey.out.contains("no longer opens"), "\(rekey.out) \(rekey.err)")
        var st = stat()
        #expect(stat(newKey, &st) == 0 && st.st_mode & 0o777 == 0o600, "the new key file is made 0600")
        // KEK rotation still works after a rekey (it wraps under the new root key).
        #expect(d.cli(["master-key", "rotate"]).status == 0)
        d.stop()
        // The old key file is refused at start; the new one opens the store.
        let old = DamagedStoreTests.serveExpectingRefusal(d, dataDir: d.dataDir)
        #expect(old.status != 0 && old.output.contains("does not match"), "\(old)")
        let oldKey = d.root + "/master.key"
        #expect(rename(newKey, oldKey) == 0)
        try d.start()
        let open = d.cli(["session", "open", "web", "--build", "b", "--grant", "deploy-key", "--json"])
        #expect(open.status == 0, "\(open.err)")
        // A passphrase next, read from stdin and sealed to the intake key.
        let toPass = d.cli(["master-key", "rekey", "--new-passphrase-stdin", "--kdf", "interactive"], stdin: "correct horse battery staple\n")
        #expect(toPass.status == 0, "\(toPass.err)")
        #expect(!d.log.contains("correct horse"))
        d.stop()
        #expect(DamagedStoreTests.serveExpectingRefusal(d, dataDir: d.dataDir).status != 0, "the key file no longer opens it")
    }

    @Test func aKeyFileOrDataDirectoryOfAnotherUserOrASymlinkIsRefused() throws {
        let d = try DaemonProcess()
        d.stop()
        let key = d.root + "/master.key"
        // Owned by another uid (still mode 0600): that user could replace the master key.
        #expect(chown(key, 4242, 4242) == 0)
        let foreign = DamagedStoreTests.serveExpectingRefusal(d, dataDir: d.dataDir)
        #expect(foreign.status != 0 && foreign.output.contains("belongs to uid 4242"), "\(foreign)")
        #expect(chown(key, 0, 0) == 0)
        // A symbolic link to the key file.
        let link = d.root + "/link.key"
        #expect(symlink(key, link) == 0)
        let root = d.root
        let log = root + "/link.log"
        let pid = try #require(spawn(
            [latchkeyBinary, "serve", "--data-dir", d.dataDir, "--policies", d.policies, "--socket", root + "/l.sock", "--key-file", link],
            environment: ProcessInfo.processInfo.environment, stdoutPath: log, stderrPath: log))
        let status = waitFor(pid)
        #expect(status != 0 && ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("symbolic link"))
        // The data directory owned by another uid.
        #expect(chown(d.dataDir, 4242, 4242) == 0)
        let dir = DamagedStoreTests.serveExpectingRefusal(d, dataDir: d.dataDir)
        #expect(dir.status != 0 && dir.output.contains("belongs to uid 4242"), "\(dir)")
        #expect(chown(d.dataDir, 0, 0) == 0)
        try d.start()
        d.stop()
    }
}
