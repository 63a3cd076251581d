import Foundation
@testable import LatchkeyCore
import LatchkeyCrypto
import LatchkeyPolicy
import LatchkeySSH
import LatchkeyStore
import Testing

/// The release decision as a plain function: every refusal, in its order, and the two
/// release flags the fast path depends on. No socket, no store.
@Suite struct ReleaseDecisionTests {
    static let buildUID: UInt32 = 4242
    static let build = PeerIdentity(uid: buildUID, gid: buildUID, pid: 77)
    static let stranger = PeerIdentity(uid: 4343, gid: 4343, pid: 78)
    static let now = Timestamp(parsing: "2026-11-22T10:00:00Z")!

    /// A rule as the policy loader makes it: builds are uid 4242 only.
    static let rule: RunnerRule = {
        let dir = NSTemporaryDirectory() + "lk-decision-\(UUID().uuidString.prefix(8))"
        mkdir(dir, 0o700)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let yaml = """
            version: 1
            admins: { uids: [0] }
            runners:
              - name: ci
                who: { uids: [0] }
                projects: ["*"]
                grants: [deploy-key, token]
                max_ttl: 1h
                max_uses: 100
                builds: { uids: [\(buildUID)] }
            """
        try! yaml.write(toFile: dir + "/p.yaml", atomically: true, encoding: .utf8)
        chmod(dir + "/p.yaml", 0o600)
        let policy = try! Policy.load(directory: dir, daemonUID: getuid())
        return policy.runnerRule(for: PeerIdentity(uid: 0, gid: 0, pid: 1), project: "web")!
    }()

    static func version(
        _ kind: SecretKind, state: SecretState = .active, retireAt: String? = nil, expires: String? = nil, generation: Int64 = 1
    ) -> SecretVersion {
        var attributes: [String: String] = [:]
        if let expires { attributes["expires"] = expires }
        let object: [String: Any] = [
            "kind": kind.rawValue, "owner": kind == .deployKey ? "project:web" : "connection:ghe", "version": 3,
            "state": state.rawValue, "retireAt": retireAt as Any, "createdAt": "2026-11-01T00:00:00.000000Z",
            "attributes": attributes, "generation": generation,
        ].compactMapValues { ($0 as Any?) ?? nil }
        let data = try! JSONSerialization.data(withJSONObject: object)
        return try! JSONDecoder().decode(SecretVersion.self, from: data)
    }

    static func session(uses: Int = 0, maxUses: Int = 5, deadlineIn: Duration = .seconds(600), key: SecretVersion? = version(.deployKey),
        token: SecretVersion? = nil, grants: Set<Grant> = [.deployKey], sealGeneration: Int64 = 1) -> BuildSession
    {
        let sealed = SealedSecret(sealedPayload: [1], wrappedDataKey: [2], generation: sealGeneration)
        return BuildSession(
            id: "s_test", tokenHash: [9], project: "web", connection: "ghe", buildID: "b1", runner: PeerCredentials(pid: 1, uid: 0, gid: 0),
            rule: rule, grants: grants, maxUses: maxUses, uses: uses, createdAt: now, expiresAt: now.adding(seconds: 600),
            deadline: .now + deadlineIn, deployKeyVersion: key?.version, tokenVersion: token?.version, tokenKind: token?.kind,
            pinnedKey: key.map { PinnedSecret(version: $0, sealed: sealed) }, pinnedToken: token.map { PinnedSecret(version: $0, sealed: sealed) })
    }

    static func decide(
        _ s: BuildSession?, grant: Grant = .deployKey, peer: PeerIdentity = build, token: Bool = true, gone: SessionGone? = nil, generation: Int64 = 1
    ) -> ReleaseDecision {
        ReleaseDecision.decide(
            s, .init(tokenPresented: token, gone: gone, grant: grant, peer: peer, now: now, clock: .now, keyGeneration: generation))
    }

    @Test func aLiveSessionWithUsesLeftReleasesItsPinnedVersionOnTheFastPath() {
        let d = Self.decide(Self.session())
        #expect(d == .release(version: 3, lastUse: false, sealIsCurrent: true))
        #expect(d.isFast)
    }

    @Test func theLastUseAndAStaleSealAreReleasedButNotOnTheFastPath() {
        let last = Self.decide(Self.session(uses: 4, maxUses: 5))
        #expect(last == .release(version: 3, lastUse: true, sealIsCurrent: true))
        #expect(!last.isFast)
        let stale = Self.decide(Self.session(), generation: 2)
        #expect(stale == .release(version: 3, lastUse: false, sealIsCurrent: false))
        #expect(!stale.isFast)
    }

    /// ssh-cert has no stored version: after the same checks up to the use, it releases
    /// the certificate issued at open (named by its CA version), or is missing without one.
    @Test func anSSHCertGrantReleasesItsIssuedCertificateAfterTheSameChecks() throws {
        let ca = try CertificateAuthority.generate()
        let subject = try DeployKey.generate()
        let cert = try SSHCertificate.issue(
            for: subject, SSHCertificate.Request(serial: 1, keyID: "k", principals: ["git"], validAfter: 1, validBefore: 2), by: ca)
        var s = Self.session(key: nil, grants: [.sshCert])
        #expect(Self.decide(s, grant: .sshCert) == .refuse(.grantMissing))
        s.certificate = SessionCertificate(key: subject, certificate: cert, authorityVersion: 7, authorityFingerprint: ca.fingerprint)
        #expect(Self.decide(s, grant: .sshCert) == .release(version: 7, lastUse: false, sealIsCurrent: true))
        #expect(Self.decide(s, grant: .sshCert, peer: Self.stranger) == .refuse(.peerNotAllowed))
        #expect(Self.decide(s, grant: .deployKey) == .refuse(.grantMissing))
        s.uses = s.maxUses
        #expect(Self.decide(s, grant: .sshCert) == .refuse(.sessionUsedUp))
    }

    @Test func noTokenIsNoSession() {
        #expect(Self.decide(Self.session(), token: false) == .refuse(.noSession))
    }

    @Test func anUnknownTokenIsInvalidAndAUsedUpOneSaysSo() {
        #expect(Self.decide(nil) == .refuse(.invalidSession))
        #expect(Self.decide(nil, gone: .usedUp) == .refuse(.sessionUsedUp))
        #expect(Self.decide(nil, gone: .expired) == .refuse(.sessionExpired), "a session housekeeping already removed at its deadline")
    }

    @Test func pastItsDeadlineTheSessionHasExpired() {
        #expect(Self.decide(Self.session(deadlineIn: .seconds(-1))) == .refuse(.sessionExpired))
    }

    @Test func aPeerTheRuleDoesNotNameMayNotRedeem() {
        #expect(Self.decide(Self.session(), peer: Self.stranger) == .refuse(.peerNotAllowed))
    }

    @Test func aGrantTheSessionWasNotGivenIsMissing() {
        #expect(Self.decide(Self.session(), grant: .token) == .refuse(.grantMissing))
        // Granted but nothing pinned (cannot happen through open; still refused).
        #expect(Self.decide(Self.session(key: nil)) == .refuse(.grantMissing))
    }

    @Test func noUsesLeftIsUsedUp() {
        #expect(Self.decide(Self.session(uses: 5, maxUses: 5)) == .refuse(.sessionUsedUp))
    }

    @Test func aRevokedOrRetiredVersionIsNotReleased() {
        #expect(Self.decide(Self.session(key: Self.version(.deployKey, state: .revoked))) == .refuse(.secretRevoked))
        let graceOver = Self.version(.deployKey, state: .retiring, retireAt: "2026-11-22T09:00:00.000000Z")
        #expect(Self.decide(Self.session(key: graceOver)) == .refuse(.secretRevoked))
        let inGrace = Self.version(.deployKey, state: .retiring, retireAt: "2026-11-22T11:00:00.000000Z")
        #expect(Self.decide(Self.session(key: inGrace)) == .release(version: 3, lastUse: false, sealIsCurrent: true))
    }

    @Test func aTokenPastItsExpiryIsNeverReleased() {
        let expired = Self.version(.token, expires: "2026-11-21")
        let s = Self.session(key: nil, token: expired, grants: [.token])
        #expect(Self.decide(s, grant: .token) == .refuse(.tokenExpired))
    }

    /// The order is part of the contract: the first failing check names the refusal.
    @Test func theFirstFailingCheckNamesTheRefusal() {
        let everythingWrong = Self.session(uses: 5, maxUses: 5, deadlineIn: .seconds(-1), key: Self.version(.deployKey, state: .revoked))
        #expect(Self.decide(everythingWrong, token: false) == .refuse(.noSession))
        #expect(Self.decide(everythingWrong, peer: Self.stranger) == .refuse(.sessionExpired))
        let live = Self.session(uses: 5, maxUses: 5, key: Self.version(.deployKey, state: .revoked))
        #expect(Self.decide(live, peer: Self.stranger) == .refuse(.peerNotAllowed))
        #expect(Self.decide(live, grant: .token) == .refuse(.grantMissing))
        #expect(Self.decide(live) == .refuse(.sessionUsedUp))
    }

    @Test func everyRefusalIsA401Or403AndDenied() {
        for code in [RefusalCode.noSession, .invalidSession, .sessionExpired, .sessionUsedUp, .peerNotAllowed, .grantMissing, .secretRevoked, .tokenExpired] {
            #expect([401, 403].contains(code.status), "\(code)")
            #expect(code.outcome == .denied, "\(code)")
        }
    }
}
