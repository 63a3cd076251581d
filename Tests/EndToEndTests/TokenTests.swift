import Foundation
import Testing

@Suite(.serialized) struct TokenTests {
    @Test func offlineSealingOAuthSecretsExpiryAndRestart() throws {
        let d = try DaemonProcess()
        #expect(d.cli(["connection", "add", "bb", "--kind", "bitbucket-server", "--url", "https://bb.example.com"]).status == 0)
        #expect(d.cli(["project", "add", "ops", "--connection", "bb", "--repo", "OPS/deploy-scripts"]).status == 0)
        // Sealed on "another machine" with only the intake public key, stored from the blob.
        let intake = d.cli(["intake-key"])
        let pub = d.root + "/intake.pub"
        try intake.out.write(toFile: pub, atomically: true, encoding: .utf8)
        let secret = String(repeating: "Zq9", count: 14) + "AB"  // 44 characters, the Bitbucket form
        let sealed = sh([latchkeyBinary, "token", "seal", "--intake-key", pub], stdin: secret + "\n")
        #expect(sealed.status == 0 && !sealed.out.contains(secret))
        try sealed.out.write(toFile: d.root + "/token.sealed", atomically: true, encoding: .utf8)
        let put = d.cli(["token", "put", "bb", "--no-verify", "--username", "ci-bot", "--sealed", d.root + "/token.sealed", "--expires", "2099-01-01"])
        #expect(put.status == 0, "\(put.err)")
        #expect(!put.err.contains("warning"), "a well-formed Bitbucket token draws no warning")
        // An OAuth application's client secret, kept the same way.
        let oauth = d.cli(["token", "put", "bb", "--no-verify", "--kind", "oauth-client", "--client-id", "3f9c-app"], stdin: "client-secret-value-xyz\n")
        #expect(oauth.status == 0, "\(oauth.err)")
        // The build receives the token with its username.
        let open = d.cli(["session", "open", "ops", "--build", "t1", "--grant", "token", "--json"])
        let token = try #require((try JSONSerialization.jsonObject(with: Data(open.out.utf8)) as? [String: Any])?["token"] as? String)
        let fetched = d.cli(["fetch", "token"], env: ["LATCHKEY_SESSION": token])
        #expect(fetched.out == "ci-bot\n\(secret)\n")
        // Across a restart the versions stand.
        let before = d.cli(["token", "list", "bb", "--json"]).out
        d.stop()
        try d.start()
        let after = d.cli(["token", "list", "bb", "--json"]).out
        #expect(before == after && after.contains("oauth-client") && after.contains("3f9c-app"))
        // A token whose expiry was edited in the file (by someone without the master key)
        // is never released, nor listed: its binding names the row.
        let db = d.dataDir + "/latchkey.db"
        #expect(sh(["sqlite3", db, "UPDATE secret_version SET attributes = replace(attributes, '2099-01-01', '2020-01-01') WHERE kind = 'token'"]).status == 0)
        let edited = d.cli(["session", "open", "ops", "--build", "t2", "--grant", "token"])
        #expect(edited.status != 0 && edited.err.contains("binding_failed") && edited.err.contains("token connection:bb v1"), "\(edited.err)")
        #expect(d.cli(["token", "list", "bb"]).err.contains("binding_failed"))
        // The secrets appear nowhere under the data directory, nor in the daemon's log.
        #expect(sh(["grep", "-r", "-l", "-F", secret, d.dataDir]).status == 1)
        #expect(sh(["grep", "-r", "-l", "-F", "client-secret-value-xyz", d.dataDir]).status == 1)
        #expect(!d.log.contains(secret) && !d.log.contains("client-secret-value-xyz"))
        d.stop()
    }
}
