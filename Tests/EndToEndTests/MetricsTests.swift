import Foundation
import LatchkeyTestSupport
import SCMFakes
import Testing

/// `GET /v1/metrics` as Prometheus scrapes it (curl over the socket), and `latchkey metrics`.
@Suite(.serialized) struct MetricsTests {
    /// Sample lines `name{labels} value` by series (`name{labels}`).
    func samples(_ text: String) -> [String: Double] {
        var out: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let v = Double(line[line.index(after: space)...]) else { continue }
            out[String(line[..<space])] = v
        }
        return out
    }

    @Test func metricsCountWhatHappenedAndNameNoSecret() throws {
        let d = try DaemonProcess()
        #expect(d.cli(["connection", "add", "local", "--kind", "gitlab", "--url", "https://git.example.com"]).status == 0)
        #expect(d.cli(["project", "add", "web", "--connection", "local", "--repo", "acme/web"]).status == 0)
        let secret = "glpat-metrics-" + UUID().uuidString.prefix(8)
        let inTenDays = ISO8601DateFormatter.string(from: Date().addingTimeInterval(10 * 86_400), timeZone: .gmt, formatOptions: [.withFullDate])
        #expect(d.cli(["token", "put", "local", "--no-verify", "--username", "ci", "--expires", inTenDays], stdin: secret + "\n").status == 0)
        let opened = try JSONSerialization.jsonObject(with: Data(d.cli(["session", "open", "web", "--build", "m1", "--grant", "token", "--json"]).out.utf8)) as! [String: Any]
        let token = opened["token"] as! String
        #expect(d.cli(["fetch", "token"], env: ["LATCHKEY_SESSION": token]).status == 0)
        #expect(d.cli(["fetch", "token"], env: ["LATCHKEY_SESSION": "lks_" + String(repeating: "A", count: 43)]).status != 0)
        #expect(d.cli(["session", "close", opened["id"] as! String]).status == 0)

        let scrape = sh(["curl", "-sf", "--unix-socket", d.socket, "http://localhost/v1/metrics"])
        #expect(scrape.status == 0, "\(scrape.err)")
        let text = scrape.out
        let s = samples(text)
        #expect(s["latchkey_releases_total{grant=\"token\"}"] == 1)
        #expect(s["latchkey_releases_total{grant=\"deploy-key\"}"] == 0)
        #expect(s["latchkey_refusals_total{code=\"invalid_session\"}"] == 1, "\(text)")
        #expect(s["latchkey_sessions_opened_total"] == 1)
        #expect(s["latchkey_sessions_ended_total{reason=\"closed\"}"] == 1)
        #expect(s["latchkey_sessions_open"] == 0)
        #expect((s["latchkey_audit_rows_total"] ?? 0) >= 8)
        #expect((s["latchkey_audit_batches_total"] ?? 0) >= 1)
        #expect((s["latchkey_audit_commit_seconds_count"] ?? 0) == s["latchkey_audit_batches_total"])
        #expect((s["latchkey_request_duration_seconds_count{route=\"GET /v1/session/token\"}"] ?? 0) == 2)
        #expect((s["latchkey_request_duration_seconds_count{route=\"POST /v1/sessions\"}"] ?? 0) == 1)
        #expect(s["latchkey_key_generation"] == 1)
        let expiry = try #require(s["latchkey_token_expiry_days{connection=\"local\",kind=\"token\",version=\"1\"}"], "\(text)")
        #expect(expiry > 8.9 && expiry <= 10.01)
        // The exposition format: every sample's metric has a TYPE line; nothing secret.
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            #expect(line.range(of: #"^[a-z_]+(\{[a-z_]+="[^"\\]*"(,[a-z_]+="[^"\\]*")*\})? -?[0-9.e+-]+$"#, options: .regularExpression) != nil, "\(line)")
            let name = String(line.prefix { $0 != "{" && $0 != " " })
            let family = ["_bucket", "_sum", "_count"].reduce(name) { n, suffix in n.hasSuffix(suffix) ? String(n.dropLast(suffix.count)) : n }
            #expect(text.contains("# TYPE \(family) "), "no TYPE for \(family)")
        }
        #expect(!text.contains(secret) && !text.contains(token))
        // People read it as a table.
        let table = d.cli(["metrics"])
        #expect(table.status == 0 && table.out.contains("METRIC") && table.out.contains("latchkey_releases_total"), "\(table.err)")
        #expect(d.cli(["metrics", "--raw"]).out.contains("# TYPE latchkey_releases_total counter"))
        // Scraping is audited, and refused to peers that are neither admin nor auditor.
        #expect(d.cli(["audit", "list", "--action", "metrics.read", "--json"]).out.contains("metrics.read"))
        chmod(d.socket, 0o666)
        chmod(d.root, 0o755)
        let denied = d.cli(["metrics"], asUID: 65534)
        #expect(denied.status == 77, "\(denied.err)")
    }

    static let labelNames: Set<String> = ["grant", "code", "reason", "route", "kind", "status", "connection", "version", "outcome", "le"]

    func scrape(_ d: DaemonProcess) -> (text: String, samples: [String: Double]) {
        let r = sh(["curl", "-sf", "--unix-socket", d.socket, "http://localhost/v1/metrics"])
        return (r.out, samples(r.out))
    }

    /// A minted repository token's life shows in the counters and the queue's gauge, and
    /// the scrape names no token, token id, session or repository.
    @Test func repositoryTokenMintsRevocationsAndThePendingQueueAreCountedWithoutNamingAToken() async throws {
        let s = try await RepoTokenTests.setUp(.gitlab)
        defer { s.remove() }
        let d = s.daemon
        var m = scrape(d).samples
        for kind in ["github-enterprise", "gitlab", "bitbucket-server"] {
            for outcome in ["minted", "failed"] { #expect(m["latchkey_repo_tokens_minted_total{kind=\"\(kind)\",outcome=\"\(outcome)\"}"] == 0) }
            for outcome in ["revoked", "failed", "expired"] {
                #expect(m["latchkey_repo_token_revocations_total{kind=\"\(kind)\",outcome=\"\(outcome)\"}"] == 0)
            }
        }
        #expect(m["latchkey_repo_tokens_live"] == 0 && m["latchkey_repo_token_revocations_pending"] == 0)

        // A mint the server refuses, then one it grants.
        let session = try RepoTokenTests.open(d)
        s.fake.failNext(.forbiddenScope, method: "POST", pathContains: "access_tokens")
        #expect(d.cli(["fetch", "repo-token"], env: ["LATCHKEY_SESSION": session.token]).status != 0)
        let value = try #require(try RepoTokenTests.fetch(d, session.token)["token"] as? String)
        let serverID = try #require(try RepoTokenTests.minted(d).first?["serverTokenId"] as? String)
        m = scrape(d).samples
        #expect(m["latchkey_repo_tokens_minted_total{kind=\"gitlab\",outcome=\"failed\"}"] == 1)
        #expect(m["latchkey_repo_tokens_minted_total{kind=\"gitlab\",outcome=\"minted\"}"] == 1)
        #expect(m["latchkey_releases_total{grant=\"repo-token\"}"] == 1 && m["latchkey_releases_total{grant=\"token\"}"] == 0)
        #expect(m["latchkey_repo_tokens_live"] == 1 && m["latchkey_repo_token_revocations_pending"] == 0)

        // The close queues the revocation; the server refuses the first two attempts.
        s.fake.failNext(.forbiddenScope, times: 2, method: "DELETE")
        #expect(d.cli(["session", "close", session.id]).status == 0)
        var texts: [String] = []
        #expect(
            SCMDeployKeyTests.eventually(20) {
                let now = scrape(d)
                texts.append(now.text)
                return (now.samples["latchkey_repo_token_revocations_total{kind=\"gitlab\",outcome=\"failed\"}"] ?? 0) >= 1
                    && now.samples["latchkey_repo_token_revocations_pending"] == 1 && now.samples["latchkey_repo_tokens_live"] == 0
            }, "\(texts.last ?? "")")
        #expect(
            SCMDeployKeyTests.eventually(30) {
                let now = scrape(d)
                texts.append(now.text)
                return now.samples["latchkey_repo_token_revocations_total{kind=\"gitlab\",outcome=\"revoked\"}"] == 1
                    && now.samples["latchkey_repo_token_revocations_pending"] == 0
            }, "\(texts.last ?? "")")
        #expect(s.fake.liveMintedTokens == 0)
        m = scrape(d).samples
        #expect(m["latchkey_repo_token_revocations_total{kind=\"gitlab\",outcome=\"failed\"}"] == 2)
        #expect(m["latchkey_repo_token_revocations_total{kind=\"gitlab\",outcome=\"expired\"}"] == 0)
        #expect(m["latchkey_repo_token_revocations_total{kind=\"unknown\",outcome=\"failed\"}"] == 0)
        // Every one of those calls to the server is counted by kind and status: the refused
        // mint and the two refused revocations (403), the mint and the revocation that went through.
        let scm = m.filter { $0.key.hasPrefix("latchkey_scm_requests_total{kind=\"gitlab\"") }
        #expect((scm["latchkey_scm_requests_total{kind=\"gitlab\",status=\"403\"}"] ?? 0) >= 3, "\(scm)")
        #expect(scm.values.reduce(0, +) >= 5, "\(scm)")

        // No scrape named the token, its server id, the session or the repository.
        texts.append(scrape(d).text)
        for text in texts {
            #expect(!text.contains(value) && !text.contains(s.token) && !text.contains(session.token))
            #expect(!text.contains(session.id) && !text.contains(s.repository))
            // Label names come from a bounded set: none carries a token id.
            for match in text.matches(of: /([a-z_]+)="/) {
                #expect(Self.labelNames.contains(String(match.1)), "label \(match.1)")
            }
        }
        #expect(!texts.joined().contains("=\"\(serverID)\","), "a label holds the server's token id")
        let table = d.cli(["metrics"])
        #expect(table.out.contains("latchkey_repo_token_revocations_pending") && !table.out.contains(value))
        d.stop()
        await s.fake.stop()
    }

    /// An App key that is gone (revoked, never put) reads 0, so an alert sees a GitHub
    /// connection that can mint nothing.
    @Test func eachGitHubConnectionsActiveAppKeyVersionIsAGaugeAndZeroWithoutOne() async throws {
        let s = try await RepoTokenTests.setUp(.githubEnterprise)
        defer { s.remove() }
        let d = s.daemon
        #expect(d.cli(["connection", "add", "bare", "--kind", "github-enterprise", "--url", s.fake.webURL, "--api-url", s.fake.apiURL, "--ca-file", s.pki.caCertificate]).status == 0)
        var m = scrape(d).samples
        #expect(m["latchkey_github_app_key_version{connection=\"scm1\"}"] == 1)
        #expect(m["latchkey_github_app_key_version{connection=\"bare\"}"] == 0)
        #expect(d.cli(["connection", "app", "revoke", "scm1"]).status == 0)
        m = scrape(d).samples
        #expect(m["latchkey_github_app_key_version{connection=\"scm1\"}"] == 0)
        d.stop()
        await s.fake.stop()
    }
}
