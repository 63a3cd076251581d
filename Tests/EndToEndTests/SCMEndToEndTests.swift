import Foundation
import SCMFakes
import Testing

/// The daemon as a client of the SCM servers (faked over real TLS on loopback): the
/// `latchkey` binary, a real `latchkey serve`, and a fake of each server.
@Suite(.serialized) struct SCMEndToEndTests {
    /// A token in each server's form (the daemon warns about others).
    static func token(_ kind: FakeKind) -> String {
        switch kind {
        case .githubEnterprise: "ghp_" + "R7kq2LmX9pVt4sWz8bNc1dFg6hJy3aEu0oQi"
        case .gitlab: "glpat-" + "x8Kd2mQp7RvT3nWs9LcA"
        case .bitbucketServer: "NjY2MzA1MTQ0OTk2Okz" + "8m3Q1v9Xr2Lp5Tn7Wc4Ys6Bd0Fg"
        }
    }

    static func repository(_ kind: FakeKind) -> String {
        switch kind {
        case .githubEnterprise: "acme/web"
        case .gitlab: "acme/platform/web"
        case .bitbucketServer: "ACME/web"
        }
    }

    struct Setup {
        let pki: TestPKI
        let fake: FakeSCMServer
        let daemon: DaemonProcess
        let token: String
    }

    static func setUp(_ kind: FakeKind, scopes: [String]? = nil) async throws -> Setup {
        let pki = try TestPKI.make()
        let fake = try await FakeSCMServer.start(kind: kind, certificate: try pki.serverCertificate())
        let token = Self.token(kind)
        let defaultScopes: [String]? =
            switch kind {
            case .githubEnterprise: ["repo", "admin:repo_hook"]
            case .gitlab: ["api"]
            case .bitbucketServer: nil
            }
        fake.addUser("ci-bot", token: token, scopes: scopes ?? defaultScopes, expiresAt: kind == .gitlab ? "2027-06-30" : nil)
        fake.addRepository(repository(kind), admins: ["ci-bot"])
        let d = try DaemonProcess()
        let add = d.cli([
            "connection", "add", "scm1", "--kind", kind.rawValue, "--url", fake.webURL, "--api-url", fake.apiURL, "--ca-file", pki.caCertificate,
        ])
        #expect(add.status == 0, "\(add.err)")
        let put = d.cli(["token", "put", "scm1", "--username", "ci-bot"], stdin: token + "\n")
        #expect(put.status == 0, "\(put.err)")
        #expect(d.cli(["project", "add", "web", "--connection", "scm1", "--repo", repository(kind)]).status == 0)
        return Setup(pki: pki, fake: fake, daemon: d, token: token)
    }

    @Test(arguments: FakeKind.allCases)
    func connectionVerifyReportsTheServersViewOfTheToken(kind: FakeKind) async throws {
        let s = try await Self.setUp(kind)
        defer { s.pki.remove() }
        let d = s.daemon
        let verify = d.cli(["connection", "verify", "scm1", "--json"])
        #expect(verify.status == 0, "\(verify.err)")
        let r = try #require(try JSONSerialization.jsonObject(with: Data(verify.out.utf8)) as? [String: Any])
        #expect(r["connection"] as? String == "scm1")
        #expect(r["user"] as? String == "ci-bot")
        #expect(r["ok"] as? Bool == true)
        #expect((r["missing"] as? [String]) == [])
        switch kind {
        case .githubEnterprise: #expect(r["scopes"] as? [String] == ["repo", "admin:repo_hook"])
        case .gitlab:
            #expect(r["scopes"] as? [String] == ["api"])
            #expect(r["expiresAt"] as? String == "2027-06-30")
        case .bitbucketServer: #expect(r["scopes"] == nil)
        }
        // The readable form says the same.
        let text = d.cli(["connection", "verify", "scm1"])
        #expect(text.status == 0 && text.out.contains("user:       ci-bot"))

        // Every outbound request has its audit row: connection, method, path, status, duration.
        let audit = d.cli(["audit", "list", "--action", "scm.request", "--json", "--limit", "1000"])
        #expect(audit.status == 0, "\(audit.err)")
        let sent = s.fake.requests.count
        #expect(sent >= 2)
        #expect(audit.out.components(separatedBy: "\"scm.request\"").count - 1 == sent)
        let first = kind == .githubEnterprise ? "GET /user → 200 in" : kind == .gitlab ? "GET /personal_access_tokens/self → 200 in" : "GET /api/1.0/users → 200 in"
        #expect(audit.out.contains(first), "\(audit.out)")
        #expect(audit.out.contains("\"scm1\""))

        // Without the CA file the server's certificate is refused, and the error says what to do.
        let unset = d.cli(["connection", "set", "scm1", "--ca-file", ""])
        #expect(unset.status == 0, "\(unset.err)")
        let refused = d.cli(["connection", "verify", "scm1"])
        #expect(refused.status != 0)
        #expect(refused.err.contains("scm_tls_failed") || refused.err.contains("TLS"), "\(refused.err)")
        #expect(refused.err.contains("--ca-file"), "\(refused.err)")
        // A CA file that is not PEM is refused when it is set, and nothing changes.
        try "not a certificate".write(toFile: s.pki.directory + "/junk.pem", atomically: true, encoding: .utf8)
        let junk = d.cli(["connection", "set", "scm1", "--ca-file", s.pki.directory + "/junk.pem"])
        #expect(junk.status != 0 && junk.err.contains("junk.pem"), "\(junk.err)")
        #expect(d.cli(["connection", "show", "scm1"]).out.contains("(system store)"))

        // The token is nowhere but in the Authorization header of the requests the server got.
        for r in s.fake.requests {
            #expect(r.header("authorization") == "Bearer \(s.token)")
            let rest = r.uri + r.headers.filter { $0.name.lowercased() != "authorization" }.map { $0.name + $0.value }.joined() + String(decoding: r.body, as: UTF8.self)
            #expect(!rest.contains(s.token))
        }
        let export = d.cli(["audit", "export"])
        #expect(export.status == 0 && !export.out.contains(s.token))
        #expect(!d.log.contains(s.token) && !refused.err.contains(s.token) && !verify.out.contains(s.token))
        #expect(sh(["grep", "-r", "-l", "-F", s.token, d.dataDir]).status == 1)
        d.stop()
        await s.fake.stop()
    }

    @Test func aRejectedTokenIsReportedWithTheServersWords() async throws {
        let s = try await Self.setUp(.gitlab)
        defer { s.pki.remove() }
        s.fake.failNext(.unauthorized)
        let r = s.daemon.cli(["connection", "verify", "scm1"])
        #expect(r.status != 0)
        #expect(r.err.contains("GitLab scm1 answered 401 to GET /personal_access_tokens/self (verify the token): 401 Unauthorized"), "\(r.err)")
        #expect(r.err.contains("latchkey token put scm1"))
        let audit = s.daemon.cli(["audit", "list", "--action", "connection.verify", "--json"])
        #expect(audit.out.contains("scm_unauthorized"), "\(audit.out)")
        s.daemon.stop()
        await s.fake.stop()
    }
}
