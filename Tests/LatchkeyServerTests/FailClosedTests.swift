import Foundation
import LatchkeyAPI
import LatchkeyAudit
import LatchkeyClient
import LatchkeyCrypto
import Testing

@Suite(.serialized) struct FailClosedTests {
    /// A 4 MiB tmpfs of its own for a daemon's directory (tests run as root); the caller
    /// unmounts exactly this path.
    static func mountSmallDisk() -> String {
        let mount = "/tmp/lk-full-\(UUID().uuidString.prefix(8))"
        mkdir(mount, 0o755)
        #expect(run("mount", ["-t", "tmpfs", "-o", "size=4m,mode=0755", "tmpfs", mount]).status == 0, "tests run as root and mount a tmpfs")
        return mount
    }

    /// With the store's disk full, a release is refused with 503 and no secret is sent;
    /// when space returns, releases resume by themselves.
    @Test func releaseIsRefusedWhenTheAuditLogCannotBeWritten() async throws {
        let mount = Self.mountSmallDisk()
        defer { run("umount", ["-l", mount]) }
        let d = try await TestDaemon(root: mount)
        let secret = "ghp_" + Hex.encode(randomBytes(18))
        let token: String = try await offPool {
            let c = try d.client()
            let _: ConnectionInfo = try c.call("POST", "/v1/connections", body: ConnectionRequest(name: "ghe", kind: "github-enterprise", url: "https://ghe.example.com"))
            let _: ProjectInfo = try c.call("POST", "/v1/projects", body: ProjectRequest(name: "web", connection: "ghe", repo: "acme/web"))
            let intake: IntakeKey = try c.call("GET", "/v1/intake-key")
            var b = Array(secret.utf8)
            let sealed = Data(IntakeKeyPair.seal(try SecretBytes(consuming: &b), to: Array(Data(base64Encoded: intake.publicKey)!))).base64EncodedString()
            let _: TokenInfo = try c.call("POST", "/v1/connections/ghe/tokens", body: TokenPutRequest(username: "ci", sealedToken: sealed, verify: false))
            let s: SessionOpened = try c.call("POST", "/v1/sessions", body: SessionOpenRequest(project: "web", build: "b", grants: ["token"], uses: 50))
            return s.token
        }
        let filler = mount + "/filler"
        run("dd", ["if=/dev/zero", "of=\(filler)", "bs=64k", "count=1000"])
        try await offPool {
            var refused = 0
            for _ in 0..<30 {
                let r = curl(d.socketPath, "GET", "/v1/session/token", bearer: token)
                #expect(!r.body.contains(secret), "no secret leaves while the audit log cannot be written")
                if r.status == 503 {
                    #expect(r.body.contains("audit_unavailable"))
                    refused += 1
                    break
                }
            }
            #expect(refused == 1)
            unlink(filler)
            let again = curl(d.socketPath, "GET", "/v1/session/token", bearer: token)
            #expect(again.status == 200 && again.body.contains(secret))
        }
        #expect(d.logs.text.contains("audit write failed"))
        await d.stop()
    }

    /// With the store's disk full, every kind of write (project add, deploy-key rotation,
    /// token put, session open) is refused with 503 and a log line, never a 500 and never
    /// half done; when space returns they succeed again without a restart, the store
    /// passes SQLite's integrity check and the audit chain verifies.
    @Test func writesAreRefusedWhileTheDiskIsFullAndResumeByThemselves() async throws {
        let mount = Self.mountSmallDisk()
        defer { run("umount", ["-l", mount]) }
        let d = try await TestDaemon(root: mount)
        let secret = "ghp_" + Hex.encode(randomBytes(18))
        let intakeKey: [UInt8] = try await offPool {
            let c = try d.client()
            let _: ConnectionInfo = try c.call("POST", "/v1/connections", body: ConnectionRequest(name: "ghe", kind: "github-enterprise", url: "https://ghe.example.com"))
            let _: ProjectInfo = try c.call("POST", "/v1/projects", body: ProjectRequest(name: "web", connection: "ghe", repo: "acme/web"))
            let _: DeployKeyInfo = try c.call("POST", "/v1/projects/web/deploy-keys", body: DeployKeyRequest())
            let intake: IntakeKey = try c.call("GET", "/v1/intake-key")
            return Array(Data(base64Encoded: intake.publicKey)!)
        }
        let sealedPut = { () -> String in
            var b = Array(secret.utf8)
            let sealed = Data(IntakeKeyPair.seal(try! SecretBytes(consuming: &b), to: intakeKey)).base64EncodedString()
            return #"{"username":"ci","sealedToken":"\#(sealed)","verify":false}"#
        }
        let socket = d.socketPath
        var n = 0
        let writes: [(name: String, send: () -> (status: Int, body: String))] = [
            ("project add", {
                n += 1
                return curl(socket, "POST", "/v1/projects", body: #"{"name":"p\#(n)","connection":"ghe","repo":"acme/p\#(n)"}"#)
            }),
            ("deploy-key rotate", { curl(socket, "POST", "/v1/projects/web/deploy-keys/rotate", body: "{}") }),
            ("token put", { curl(socket, "POST", "/v1/connections/ghe/tokens", body: sealedPut()) }),
            ("session open", { curl(socket, "POST", "/v1/sessions", body: #"{"project":"web","build":"b","grants":["token"]}"#) }),
        ]
        let filler = mount + "/filler"
        run("dd", ["if=/dev/zero", "of=\(filler)", "bs=64k", "count=1000"])
        for write in writes {
            var refused = false
            for _ in 0..<200 {
                let r = write.send()
                #expect(r.status == 503 || (200..<300).contains(r.status), "\(write.name) while full: \(r.status) \(r.body)")
                #expect(!r.body.contains(secret))
                if r.status == 503 {
                    #expect(r.body.contains("audit_unavailable"), "\(r.body)")
                    refused = true
                    break
                }
            }
            #expect(refused, "\(write.name) was refused while the disk was full")
        }
        #expect(d.logs.text.contains("audit write failed"))
        unlink(filler)
        for write in writes {
            let r = write.send()
            #expect((200..<300).contains(r.status), "\(write.name) after space returned: \(r.status) \(r.body)")
        }
        await d.stop()
        let db = d.dataDirectory + "/latchkey.db"
        #expect(run("sqlite3", [db, "PRAGMA integrity_check"]).out == "ok\n")
        let publicKey = try #require(try AuditReader.storedPublicKey(databasePath: db))
        let report = try AuditReader.verify(databasePath: db, publicKey: publicKey)
        #expect(report.isIntact, "\(report)")
        #expect(!filesContaining(secret, under: mount).contains { !$0.hasSuffix("filler") })
    }
}
