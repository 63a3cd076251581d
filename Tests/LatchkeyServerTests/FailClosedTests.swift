import Foundation
import LatchkeyAPI
import LatchkeyClient
import LatchkeyCrypto
import Testing

@Suite(.serialized) struct FailClosedTests {
    /// With the store's disk full, a release is refused with 503 and no secret is sent;
    /// when space returns, releases resume by themselves.
    @Test func releaseIsRefusedWhenTheAuditLogCannotBeWritten() async throws {
        let mount = "/tmp/lk-full-\(UUID().uuidString.prefix(8))"
        mkdir(mount, 0o755)
        #expect(run("mount", ["-t", "tmpfs", "-o", "size=4m,mode=0755", "tmpfs", mount]).status == 0, "tests run as root and mount a tmpfs")
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
            let _: TokenInfo = try c.call("POST", "/v1/connections/ghe/tokens", body: TokenPutRequest(username: "ci", sealedToken: sealed))
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
}
