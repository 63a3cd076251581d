import Foundation
import LatchkeyCrypto
import LatchkeySCM
import LatchkeySCMTransport
import SCMFakes
import Testing

/// The outbound client against the three fakes over real TLS on loopback.
@Suite struct SCMClientTests {
    @Test(arguments: SCMServerKind.allCases)
    func verifyReportsTheTokensUserScopesAndExpiry(kind: SCMServerKind) async throws {
        let expiry = kind == .githubEnterprise ? "2027-03-01 00:00:00 UTC" : "2027-03-01"
        let bed = try await Bed.start(kind, expiresAt: expiry)
        defer { Task { await bed.stop() } }
        let a = try bed.adapter()
        let report = try await a.verifyToken(
            try Bed.secret(Bed.token), needs: [SCMRepositoryNeeds(repository: bed.repository, installDeployKey: true, webhooks: true)])
        #expect(report.user == "ci-bot")
        #expect(report.missing == [])
        #expect(report.ok)
        switch kind {
        case .githubEnterprise:
            #expect(report.scopes == ["repo", "admin:repo_hook"])
            #expect(report.expiresAt == "2027-03-01T00:00:00Z")
        case .gitlab:
            #expect(report.scopes == ["api", "read_repository"])
            #expect(report.expiresAt == "2027-03-01")
        case .bitbucketServer:
            #expect(report.scopes == nil)
        }
    }

    @Test(arguments: SCMServerKind.allCases)
    func verifyNamesWhatIsMissing(kind: SCMServerKind) async throws {
        let scopes: [String]? =
            switch kind {
            case .githubEnterprise: ["read:user"]
            case .gitlab: ["read_api", "read_user"]
            case .bitbucketServer: nil
            }
        let bed = try await Bed.start(kind, scopes: .some(scopes), admin: false)
        defer { Task { await bed.stop() } }
        let report = try await bed.adapter().verifyToken(
            try Bed.secret(Bed.token), needs: [SCMRepositoryNeeds(repository: bed.repository, installDeployKey: true, webhooks: true)])
        #expect(!report.ok)
        let r = bed.repository
        switch kind {
        case .githubEnterprise:
            #expect(report.missing == ["scope repo (deploy keys on \(r))", "scope admin:repo_hook (webhooks on \(r))", "admin on \(r)"])
        case .gitlab:
            #expect(report.missing == ["scope api (deploy keys on \(r))", "Maintainer role on \(r)"])
        case .bitbucketServer:
            #expect(report.missing == ["REPO_ADMIN on \(r)"])
        }
    }

    @Test func fineGrainedGitHubTokenIsSaidToHaveNoScopes() async throws {
        let bed = try await Bed.start(.githubEnterprise, scopes: .some(nil))
        defer { Task { await bed.stop() } }
        let report = try await bed.adapter().verifyToken(try Bed.secret(Bed.token), needs: [])
        #expect(report.scopes == nil)
        #expect(report.notes.contains { $0.contains("fine-grained") })
    }

    @Test(arguments: SCMServerKind.allCases)
    func invalidTokenGetsAClearErrorWithoutTheToken(kind: SCMServerKind) async throws {
        let bed = try await Bed.start(kind)
        defer { Task { await bed.stop() } }
        let wrong = "lk-wrong-token-0000111122223333"
        let error = await #expect(throws: SCMError.self) {
            _ = try await bed.adapter().verifyToken(try Bed.secret(wrong), needs: [])
        }
        #expect(error?.code == .unauthorized)
        #expect(error?.status == 401)
        #expect(error?.message.contains("\(kind.displayName) scm1 answered 401") == true)
        #expect(error?.message.contains("latchkey token put scm1") == true)
        #expect(error?.message.contains(wrong) == false)
    }

    @Test(arguments: SCMServerKind.allCases)
    func tokenWithoutTheScopeIsRefusedClearly(kind: SCMServerKind) async throws {
        let scopes: [String]? =
            switch kind {
            case .githubEnterprise: ["read:user"]
            case .gitlab: ["read_api"]
            case .bitbucketServer: nil
            }
        let bed = try await Bed.start(kind, scopes: .some(scopes), admin: kind != .bitbucketServer)
        defer { Task { await bed.stop() } }
        let key = SCMDeployKey(title: "latchkey:web:v1", publicKey: try makePublicKey(), write: false)
        let error = await #expect(throws: SCMError.self) {
            _ = try await bed.adapter().installDeployKey(key, repository: bed.repository, token: try Bed.secret(Bed.token))
        }
        switch kind {
        case .githubEnterprise:
            #expect(error?.code == .forbidden)
            #expect(error?.message.contains("answered 403 to POST /repos/acme/web/keys (install deploy key latchkey:web:v1): Resource not accessible by personal access token — the token needs the repo scope") == true)
        case .gitlab:
            #expect(error?.code == .forbidden)
            #expect(error?.message.contains("The request requires higher privileges than provided by the access token") == true)
            #expect(error?.message.contains("api scope") == true)
        case .bitbucketServer:
            #expect(error?.code == .unauthorized)
            #expect(error?.message.contains("REPO_ADMIN") == true)
        }
        #expect(bed.fake.deployKeys(bed.repository).isEmpty)
    }

    @Test(arguments: SCMServerKind.allCases)
    func deployKeysAreInstalledListedAndRemoved(kind: SCMServerKind) async throws {
        let bed = try await Bed.start(kind)
        defer { Task { await bed.stop() } }
        let a = try bed.adapter()
        let token = try Bed.secret(Bed.token)
        let pub = try makePublicKey()
        let installed = try await a.installDeployKey(
            SCMDeployKey(title: "latchkey:web:v1", publicKey: pub, write: true), repository: bed.repository, token: token)
        let onServer = bed.fake.deployKeys(bed.repository)
        #expect(onServer.map { String($0.id) } == [installed.id])
        #expect(onServer.first?.title == "latchkey:web:v1" && onServer.first?.key == pub && onServer.first?.write == true)
        let listed = try await a.listDeployKeys(repository: bed.repository, token: token)
        #expect(listed.map(\.id) == [installed.id])
        try await a.removeDeployKey(id: installed.id, repository: bed.repository, token: token)
        #expect(bed.fake.deployKeys(bed.repository).isEmpty)
        // Removing what is already gone is what was asked for.
        try await a.removeDeployKey(id: installed.id, repository: bed.repository, token: token)
    }

    @Test(arguments: SCMServerKind.allCases)
    func listingFollowsEveryPage(kind: SCMServerKind) async throws {
        let bed = try await Bed.start(kind)
        defer { Task { await bed.stop() } }
        for i in 0..<130 { bed.fake.addDeployKey(bed.repository, title: "hand-\(i)", key: "ssh-ed25519 AAAAkey\(i) x") }
        let listed = try await bed.adapter().listDeployKeys(repository: bed.repository, token: try Bed.secret(Bed.token))
        #expect(listed.count == 130)
        #expect(Set(listed.map(\.title)).count == 130)
    }

    @Test(arguments: SCMServerKind.allCases)
    func keyAlreadyInUseGetsAClearError(kind: SCMServerKind) async throws {
        let bed = try await Bed.start(kind)
        defer { Task { await bed.stop() } }
        let pub = try makePublicKey()
        bed.fake.addRepository(kind == .bitbucketServer ? "OTHER/app" : "other/app", admins: ["ci-bot"])
        bed.fake.addDeployKey(kind == .bitbucketServer ? "OTHER/app" : "other/app", title: "by hand", key: pub)
        let error = await #expect(throws: SCMError.self) {
            _ = try await bed.adapter().installDeployKey(
                SCMDeployKey(title: "latchkey:web:v1", publicKey: pub, write: false), repository: bed.repository, token: try Bed.secret(Bed.token))
        }
        #expect(error?.code == .keyInUse)
        #expect(error?.message.contains("already") == true)
        #expect(error?.message.contains("other than \(bed.repository)") == true)
    }

    @Test func dsaKeysAreRefusedBeforeAnythingIsSent() async throws {
        let bed = try await Bed.start(.gitlab)
        defer { Task { await bed.stop() } }
        let dsa = SCMDeployKey(title: "latchkey:web:v1", publicKey: "ssh-dss AAAAB3NzaC1kc3MAAACBAP test", write: false)
        let error = await #expect(throws: SCMError.self) {
            _ = try await bed.adapter().installDeployKey(dsa, repository: bed.repository, token: try Bed.secret(Bed.token))
        }
        #expect(error?.code == .unsupportedKey)
        #expect(error?.message.contains("'ssh-dss'") == true)
        #expect(bed.fake.requests.isEmpty)
    }

    @Test func tooManyRequestsIsRetriedAfterRetryAfter() async throws {
        let bed = try await Bed.start(.githubEnterprise)
        defer { Task { await bed.stop() } }
        bed.fake.failNext(.rateLimited(retryAfter: 1), pathContains: "/user")
        let recorder = Recorder()
        let started = ContinuousClock.now
        let report = try await bed.adapter(observer: recorder).verifyToken(try Bed.secret(Bed.token), needs: [])
        #expect(report.user == "ci-bot")
        #expect(ContinuousClock.now - started >= .seconds(1))
        #expect(recorder.records.map(\.status) == [429, 200])
        #expect(recorder.records.map(\.attempt) == [1, 2])
    }

    @Test func aRetryAfterLongerThanAllowedFailsAtOnceSayingSo() async throws {
        let bed = try await Bed.start(.gitlab)
        defer { Task { await bed.stop() } }
        bed.fake.failNext(.rateLimited(retryAfter: 3600))
        let error = await #expect(throws: SCMError.self) {
            _ = try await bed.adapter().verifyToken(try Bed.secret(Bed.token), needs: [])
        }
        #expect(error?.code == .rateLimited)
        #expect(error?.message.contains("wait 3600 s") == true)
    }

    @Test func gatewayErrorsAreRetriedForIdempotentRequestsOnly() async throws {
        let bed = try await Bed.start(.bitbucketServer)
        defer { Task { await bed.stop() } }
        let token = try Bed.secret(Bed.token)
        bed.fake.failNext(.status(503), times: 2, method: "GET")
        let listed = try await bed.adapter().listDeployKeys(repository: bed.repository, token: token)
        #expect(listed.isEmpty)
        #expect(bed.fake.requests.filter { $0.method == "GET" }.count == 3)
        // A POST that meets a 503 is not sent again: the gateway may have passed it on.
        bed.fake.failNext(.status(503), method: "POST")
        let error = await #expect(throws: SCMError.self) {
            _ = try await bed.adapter().installDeployKey(
                SCMDeployKey(title: "latchkey:web:v1", publicKey: try makePublicKey(), write: false), repository: bed.repository, token: token)
        }
        #expect(error?.code == .serverError && error?.isTransient == true)
        #expect(bed.fake.requests.filter { $0.method == "POST" }.count == 1)
    }

    @Test func aServerErrorIsReportedAndTheNextAttemptSucceeds() async throws {
        let bed = try await Bed.start(.githubEnterprise)
        defer { Task { await bed.stop() } }
        let a = try bed.adapter()
        let token = try Bed.secret(Bed.token)
        let k = try await a.installDeployKey(
            SCMDeployKey(title: "latchkey:web:v1", publicKey: try makePublicKey(), write: false), repository: bed.repository, token: token)
        bed.fake.failNext(.serverError, method: "DELETE")
        let error = await #expect(throws: SCMError.self) {
            try await a.removeDeployKey(id: k.id, repository: bed.repository, token: token)
        }
        #expect(error?.code == .serverError)
        #expect(error?.message.contains("answered 500 to DELETE /repos/acme/web/keys/\(k.id)") == true)
        #expect(bed.fake.deployKeys(bed.repository).count == 1)
        try await a.removeDeployKey(id: k.id, repository: bed.repository, token: token)
        #expect(bed.fake.deployKeys(bed.repository).isEmpty)
    }

    @Test func aConnectionResetIsRetriedForIdempotentRequests() async throws {
        let bed = try await Bed.start(.gitlab)
        defer { Task { await bed.stop() } }
        bed.fake.failNext(.resetConnection, pathContains: "/personal_access_tokens/self")
        let report = try await bed.adapter().verifyToken(try Bed.secret(Bed.token), needs: [])
        #expect(report.user == "ci-bot")
        #expect(bed.fake.requests.filter { $0.path.hasSuffix("/self") }.count == 2)
    }

    @Test func aServerThatNeverAnswersTimesOut() async throws {
        let bed = try await Bed.start(.gitlab)
        defer { Task { await bed.stop() } }
        bed.fake.failNext(.neverAnswer, times: 10)
        var settings = Bed.fastSettings
        settings.requestTimeout = .milliseconds(700)
        let recorder = Recorder()
        let error = await #expect(throws: SCMError.self) {
            _ = try await bed.adapter(settings, observer: recorder).verifyToken(try Bed.secret(Bed.token), needs: [])
        }
        #expect(error?.code == .timeout)
        #expect(error?.message.contains("did not answer GET /personal_access_tokens/self (verify the token) within 700 ms") == true)
        // One attempt only: a request that timed out is not sent again (how long the one
        // attempt took on this machine is its load's, not the client's).
        #expect(recorder.records.map(\.failure) == [.timeout])
    }

    @Test func aCertificateFromAnUnknownCAIsRefusedAndAcceptedWithItsCAFile() async throws {
        let bed = try await Bed.start(.githubEnterprise)
        defer { Task { await bed.stop() } }
        let token = try Bed.secret(Bed.token)
        // The system store does not know the test CA.
        let error = await #expect(throws: SCMError.self) {
            _ = try await SCMAdapters.make(for: try bed.client(caFile: .some(nil))).verifyToken(token, needs: [])
        }
        #expect(error?.code == .tls)
        #expect(error?.message.contains("--ca-file") == true)
        // Another CA's file does not help either.
        let other = try TestPKI.make(name: "Someone Else's CA")
        defer { other.remove() }
        let error2 = await #expect(throws: SCMError.self) {
            _ = try await SCMAdapters.make(for: try bed.client(caFile: .some(other.caCertificate))).verifyToken(token, needs: [])
        }
        #expect(error2?.code == .tls)
        #expect(bed.fake.requests.isEmpty)
        // Its own CA's file does.
        let report = try await SCMAdapters.make(for: try bed.client(caFile: .some(bed.pki.caCertificate))).verifyToken(token, needs: [])
        #expect(report.user == "ci-bot")
    }

    @Test func aCertificateForAnotherHostIsRefused() async throws {
        let pki = try TestPKI.make()
        defer { pki.remove() }
        let fake = try await FakeSCMServer.start(kind: .gitlab, certificate: try pki.serverCertificate(hosts: ["gitlab.other.example"], name: "other"))
        defer { Task { await fake.stop() } }
        fake.addUser("ci-bot", token: Bed.token, scopes: ["api"])
        let client = try SCMClient(connection: SCMConnection(name: "gl", kind: .gitlab, apiURL: fake.apiURL, caFile: pki.caCertificate), settings: Bed.fastSettings)
        let error = await #expect(throws: SCMError.self) {
            _ = try await SCMAdapters.make(for: client).verifyToken(try Bed.secret(Bed.token), needs: [])
        }
        #expect(error?.code == .tls)
        #expect(fake.requests.isEmpty)
    }

    @Test func onlyHTTPSAndAReadableCAFileAreAccepted() throws {
        #expect(throws: SCMError.self) {
            _ = try SCMClient(connection: SCMConnection(name: "x", kind: .gitlab, apiURL: "http://gitlab.example/api/v4"))
        }
        let e = #expect(throws: SCMError.self) {
            _ = try SCMClient(connection: SCMConnection(name: "x", kind: .gitlab, apiURL: "https://gitlab.example/api/v4", caFile: "/nonexistent.pem"))
        }
        #expect(e?.code == .configuration && e?.message.contains("/nonexistent.pem") == true)
    }

    @Test func atMostMaxInFlightRequestsAtOnce() async throws {
        let bed = try await Bed.start(.githubEnterprise)
        defer { Task { await bed.stop() } }
        bed.fake.failNext(.slow(milliseconds: 150), times: 12)
        var settings = Bed.fastSettings
        settings.maxInFlight = 2
        let client = try bed.client(settings)
        let token = try Bed.secret(Bed.token)
        try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask { try await client.send(SCMRequest(.GET, "/user", purpose: "test"), token: token).status }
            }
            for try await status in group { #expect(status == 200) }
        }
        // At most two at once (how many overlapped below that is the machine's scheduling).
        #expect((1...2).contains(bed.fake.maxConcurrentRequests), "\(bed.fake.maxConcurrentRequests) at once")
    }

    @Test(arguments: SCMServerKind.allCases)
    func theTokenTravelsOnlyInTheAuthorizationHeader(kind: SCMServerKind) async throws {
        let bed = try await Bed.start(kind)
        defer { Task { await bed.stop() } }
        let recorder = Recorder()
        let a = try bed.adapter(observer: recorder)
        let token = try Bed.secret(Bed.token)
        _ = try await a.verifyToken(token, needs: [SCMRepositoryNeeds(repository: bed.repository, installDeployKey: true)])
        let k = try await a.installDeployKey(SCMDeployKey(title: "latchkey:web:v1", publicKey: try makePublicKey(), write: false), repository: bed.repository, token: token)
        try await a.removeDeployKey(id: k.id, repository: bed.repository, token: token)
        bed.fake.failNext(.status(400), method: "POST")
        _ = try? await a.installWebhook(SCMWebhook(url: "https://ci.example/hook", events: ["push"]), repository: bed.repository, secret: try Bed.secret("s3cret"), token: token)
        let requests = bed.fake.requests
        #expect(!requests.isEmpty)
        for r in requests {
            #expect(r.header("authorization") == "Bearer \(Bed.token)")
            let elsewhere = r.uri + r.headers.filter { $0.name.lowercased() != "authorization" }.map { "\($0.name): \($0.value)" }.joined()
                + String(decoding: r.body, as: UTF8.self)
            #expect(!elsewhere.contains(Bed.token))
        }
        for record in recorder.records { #expect(!record.note.contains(Bed.token) && !record.path.contains(Bed.token)) }
    }

    @Test func aTokenEchoedByTheServerIsRedactedFromItsAnswer() throws {
        let body = Array("{\"message\":\"bad token \(Bed.token)!\"}".utf8)
        let out = SCMClient.redacting(try Bed.secret(Bed.token), in: body)
        #expect(String(decoding: out, as: UTF8.self) == "{\"message\":\"bad token <redacted>!\"}")
    }
}
