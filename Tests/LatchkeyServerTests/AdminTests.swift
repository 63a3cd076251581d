import Foundation
import LatchkeyAPI
import LatchkeyClient
import LatchkeyCrypto
import Testing

@Suite(.serialized) struct AdminTests {
    func setUp(_ d: TestDaemon) throws {
        let c = try d.client()
        let _: ConnectionInfo = try c.call("POST", "/v1/connections", body: ConnectionRequest(name: "ghe", kind: "github-enterprise", url: "https://ghe.example.com"))
        let _: ProjectInfo = try c.call("POST", "/v1/projects", body: ProjectRequest(name: "web", connection: "ghe", repo: "acme/web"))
    }

    @Test func connectionsTakeEachServersDefaults() async throws {
        let d = try await TestDaemon()
        try await offPool {
            let c = try d.client()
            let ghe: ConnectionInfo = try c.call("POST", "/v1/connections", body: ConnectionRequest(name: "ghe", kind: "github-enterprise", url: "https://ghe.example.com"))
            #expect(ghe.apiUrl == "https://ghe.example.com/api/v3" && ghe.sshUrl == "ssh://ghe.example.com:22")
            let gl: ConnectionInfo = try c.call("POST", "/v1/connections", body: ConnectionRequest(name: "gl", kind: "gitlab", url: "https://gitlab.example.com"))
            #expect(gl.apiUrl == "https://gitlab.example.com/api/v4")
            let bb: ConnectionInfo = try c.call("POST", "/v1/connections", body: ConnectionRequest(name: "bb", kind: "bitbucket-server", url: "https://bb.example.com"))
            #expect(bb.apiUrl == "https://bb.example.com/rest/api/1.0" && bb.sshUrl == "ssh://bb.example.com:7999")
        }
        await d.stop()
    }

    @Test func badConnectionsAndProjectsAreRefusedClearlyAndChangeNothing() async throws {
        let d = try await TestDaemon()
        try await offPool {
            try setUp(d)
            let c = try d.client()
            func refusal(_ method: String, _ path: String, _ body: some Encodable) -> (Int, String, String) {
                do {
                    let _: [String: String]? = try c.call(method, path, body: body)
                    return (200, "", "")
                } catch ClientError.api(let status, let code, let message) {
                    return (status, code, message)
                } catch { return (-1, "", "\(error)") }
            }
            let http = refusal("POST", "/v1/connections", ConnectionRequest(name: "x", kind: "gitlab", url: "http://gitlab.example.com"))
            #expect(http.0 == 400 && http.2.contains("https://"))
            let kind = refusal("POST", "/v1/connections", ConnectionRequest(name: "x", kind: "svn", url: "https://x.example.com"))
            #expect(kind.0 == 400 && kind.2.contains("github-enterprise"))
            let dup = refusal("POST", "/v1/connections", ConnectionRequest(name: "ghe", kind: "gitlab", url: "https://other.example.com"))
            #expect(dup.0 == 409)
            let name = refusal("POST", "/v1/projects", ProjectRequest(name: "../etc", connection: "ghe", repo: "acme/x"))
            #expect(name.0 == 400 && name.2.contains("letters, digits"))
            // A well-formed path whose form does not fit the connection's server conflicts
            // with that connection (409); a malformed one is 400.
            let repo = refusal("POST", "/v1/projects", ProjectRequest(name: "api", connection: "ghe", repo: "acme/sub/api"))
            #expect(repo.0 == 409 && repo.2.contains("owner/repo"))
            let badRepo = refusal("POST", "/v1/projects", ProjectRequest(name: "api", connection: "ghe", repo: "acme/\u{202E}api"))
            #expect(badRepo.0 == 400 && badRepo.1 == "bad_request")
            let noConn = refusal("POST", "/v1/projects", ProjectRequest(name: "api", connection: "nope", repo: "acme/api"))
            #expect(noConn.0 == 404)
            do {
                let _: RemovalResult = try c.call("DELETE", "/v1/connections/ghe")
                Issue.record("a connection in use was removed")
            } catch ClientError.api(let status, _, let message) {
                #expect(status == 409 && message.contains("web"))
            }
            let projects: [ProjectInfo] = try c.call("GET", "/v1/projects")
            #expect(projects.map(\.name) == ["web"])
        }
        await d.stop()
    }

    @Test func deployKeysRotateWithGraceAndRevokeAcrossRestart() async throws {
        let first = try await TestDaemon()
        try await offPool {
            try setUp(first)
            let c = try first.client()
            let v1: DeployKeyInfo = try c.call("POST", "/v1/projects/web/deploy-keys", body: DeployKeyRequest(type: "ed25519"))
            #expect(v1.version == 1 && v1.state == "active" && v1.publicKey.hasSuffix(" latchkey:web:v1"))
            // The fingerprint is what ssh-keygen computes from the public line.
            let lf = run("ssh-keygen", ["-lf", "-"], stdin: v1.publicKey + "\n")
            #expect(lf.out.contains(v1.fingerprint))
            let v2: DeployKeyInfo = try c.call("POST", "/v1/projects/web/deploy-keys/rotate", body: DeployKeyRequest(graceSeconds: 3600))
            #expect(v2.version == 2 && v2.publicKey.hasSuffix(" latchkey:web:v2"))
            let list: [DeployKeyInfo] = try c.call("GET", "/v1/projects/web/deploy-keys")
            #expect(list.map(\.state) == ["retiring", "active"])
            #expect(list[0].retireAt != nil)
        }
        // Across a restart the states stand.
        await first.stop()
        let d = try await TestDaemon(reopening: first.directory)
        try await offPool {
            let c = try d.client()
            var list: [DeployKeyInfo] = try c.call("GET", "/v1/projects/web/deploy-keys")
            #expect(list.map(\.state) == ["retiring", "active"])
            let r: RevokeResult = try c.call("POST", "/v1/projects/web/deploy-keys/revoke", body: RevokeRequest(version: 1))
            #expect(r.revokedVersions == [1])
            list = try c.call("GET", "/v1/projects/web/deploy-keys")
            #expect(list.map(\.state) == ["revoked", "active"])
            // Rotation with no grace revokes the previous version at once.
            let _: DeployKeyInfo = try c.call("POST", "/v1/projects/web/deploy-keys/rotate", body: DeployKeyRequest(type: "ecdsa-p256", graceSeconds: 0))
            list = try c.call("GET", "/v1/projects/web/deploy-keys")
            #expect(list.map(\.state) == ["revoked", "revoked", "active"])
            #expect(list[2].type == "ecdsa-p256")
            // Removing the project destroys its sealed material.
            let removed: RemovalResult = try c.call("DELETE", "/v1/projects/web")
            #expect(removed.destroyedVersions == 3)
            #expect(sqliteCount(d, "SELECT count(*) FROM secret_version WHERE owner = 'project:web'") == 0)
        }
        await d.stop()
    }

    @Test func tokensAreSealedBeforeTheSocketAndNeverStoredInClear() async throws {
        let d = try await TestDaemon()
        try await offPool {
            try setUp(d)
            let c = try d.client()
            let intake: IntakeKey = try c.call("GET", "/v1/intake-key")
            let secret = "ghp_" + Hex.encode(randomBytes(18))
            func seal(_ s: String) throws -> String {
                var b = Array(s.utf8)
                let sb = try SecretBytes(consuming: &b)
                return Data(IntakeKeyPair.seal(sb, to: Array(Data(base64Encoded: intake.publicKey)!))).base64EncodedString()
            }
            let put: TokenInfo = try c.call(
                "POST", "/v1/connections/ghe/tokens",
                body: TokenPutRequest(username: "ci-bot", scopes: ["repo", "admin:repo_hook"], expires: "2099-01-01", sealedToken: try seal(secret), verify: false))
            #expect(put.version == 1 && put.fingerprint.hasPrefix("lk:") && put.warnings.isEmpty)
            // A tampered blob is refused and stores nothing.
            var tampered = Array(Data(base64Encoded: try seal(secret))!)
            tampered[tampered.count - 3] ^= 1
            do {
                let _: TokenInfo = try c.call("POST", "/v1/connections/ghe/tokens", body: TokenPutRequest(username: "ci-bot", sealedToken: Data(tampered).base64EncodedString(), verify: false))
                Issue.record("a tampered sealed token was accepted")
            } catch ClientError.api(let status, let code, _) {
                #expect(status == 400 && code == "seal_open_failed")
            }
            // Refusals: empty, whitespace inside, over 4 KiB.
            for bad in ["", "ghp_abc def", String(repeating: "a", count: 4097)] {
                do {
                    let _: TokenInfo = try c.call("POST", "/v1/connections/ghe/tokens", body: TokenPutRequest(username: "ci-bot", sealedToken: try seal(bad), verify: false))
                    Issue.record("a bad token was accepted")
                } catch ClientError.api(let status, _, let message) {
                    #expect(status == 400)
                    #expect(!message.contains("abc def"))
                }
            }
            // An unexpected form is a warning, not a refusal.
            let odd: TokenInfo = try c.call("POST", "/v1/connections/ghe/tokens", body: TokenPutRequest(username: "ci-bot", sealedToken: try seal("glpat-xxxxxxxxxxxxxxxxxxxx"), graceSeconds: 60, verify: false))
            #expect(odd.version == 2 && !odd.warnings.isEmpty)
            let list: [TokenInfo] = try c.call("GET", "/v1/tokens?connection=ghe")
            #expect(list.map(\.state) == ["retiring", "active"])
            #expect(list[0].daysLeft != nil && list[0].scopes == ["repo", "admin:repo_hook"])
            // Nothing under the data directory, WAL included, nor the daemon's log holds the token.
            #expect(filesContaining(secret, under: d.dataDirectory).isEmpty)
            #expect(!d.logs.text.contains(secret))
            let r: RevokeResult = try c.call("POST", "/v1/connections/ghe/tokens/revoke", body: TokenRevokeRequest())
            #expect(r.revokedVersions == [1, 2])
        }
        await d.stop()
    }
}

func sqliteCount(_ d: TestDaemon, _ sql: String) -> Int {
    Int(run("sqlite3", [d.dataDirectory + "/latchkey.db", sql]).out.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
}
