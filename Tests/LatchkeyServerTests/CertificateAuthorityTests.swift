import Foundation
import LatchkeyAPI
import LatchkeyClient
import LatchkeyCrypto
import Testing

/// The connection CA as admins see it: public lines only, versions that rotate with grace,
/// settings checked against the certificate format before they are stored.
@Suite(.serialized) struct CertificateAuthorityTests {
    func refusal(_ c: LatchkeyClient, _ method: String, _ path: String, _ body: some Encodable) -> (Int, String, String) {
        do {
            let _: [String: String]? = try c.call(method, path, body: body)
            return (200, "", "")
        } catch ClientError.api(let status, let code, let message) {
            return (status, code, message)
        } catch { return (-1, "", "\(error)") }
    }

    @Test func caShowsPublicLinesOnlyAndRotatesWithGrace() async throws {
        let d = try await TestDaemon()
        try await offPool {
            let c = try d.client()
            let _: ConnectionInfo = try c.call("POST", "/v1/connections", body: ConnectionRequest(name: "ghe", kind: "github-enterprise", url: "https://ghe.example.com"))
            let v1: CertificateAuthorityInfo = try c.call("POST", "/v1/connections/ghe/ca", body: CertificateAuthorityRequest(type: "ecdsa-p256"))
            #expect(v1.version == 1 && v1.type == "ecdsa-p256" && v1.state == "active")
            #expect(v1.publicKey.hasPrefix("ecdsa-sha2-nistp256 AAAA") && v1.publicKey.hasSuffix(" latchkey-ca:ghe:v1"))
            // A second create is a conflict; rotate makes v2 and keeps v1 for the grace.
            #expect(refusal(c, "POST", "/v1/connections/ghe/ca", CertificateAuthorityRequest()).1 == "conflict")
            #expect(refusal(c, "POST", "/v1/connections/ghe/ca", CertificateAuthorityRequest(type: "rsa-4096")).1 == "invalid")
            let v2: CertificateAuthorityInfo = try c.call("POST", "/v1/connections/ghe/ca/rotate", body: CertificateAuthorityRequest(graceSeconds: 600))
            #expect(v2.version == 2 && v2.type == "ed25519")
            let list: [CertificateAuthorityInfo] = try c.call("GET", "/v1/connections/ghe/ca")
            #expect(list.map(\.state) == ["retiring", "active"] && list[0].retireAt != nil)
            // Nothing answered holds a private key.
            let raw = try c.call("GET", "/v1/connections/ghe/ca")
            #expect(!String(decoding: raw, as: UTF8.self).contains("PRIVATE"))
            let revoked: RevokeResult = try c.call("POST", "/v1/connections/ghe/ca/revoke", body: RevokeRequest(version: 1))
            #expect(revoked.revokedVersions == [1])
            #expect(refusal(c, "POST", "/v1/connections/nope/ca", CertificateAuthorityRequest()).0 == 404)
            // Removing the connection destroys its CA versions with it (and counts them).
            let removed: RemovalResult = try c.call("DELETE", "/v1/connections/ghe")
            #expect(removed.destroyedVersions == 2)
            #expect(refusal(c, "GET", "/v1/connections/ghe/ca", CertificateAuthorityRequest()).0 == 404)
        }
        await d.stop()
    }

    @Test func badCertificateSettingsAreRefusedAndChangeNothing() async throws {
        let d = try await TestDaemon()
        try await offPool {
            let c = try d.client()
            let _: ConnectionInfo = try c.call("POST", "/v1/connections", body: ConnectionRequest(name: "gl", kind: "gitlab", url: "https://gl.example.com"))
            let good: CertificateSettingsInfo = try c.call(
                "PATCH", "/v1/connections/gl/certificate-settings",
                body: CertificateSettingsRequest(principals: ["git"], extensions: ["permit-pty"], keyIdUsername: "ci-bot"))
            #expect(good.principals == ["git"] && good.extensions == ["permit-pty"] && good.keyIdUsername == "ci-bot" && good.lastSerial == 0)
            for bad in [
                CertificateSettingsRequest(principals: []), CertificateSettingsRequest(principals: ["a,b"]),
                CertificateSettingsRequest(principals: ["git", "git"]), CertificateSettingsRequest(extensions: ["a b"]),
                CertificateSettingsRequest(extensions: ["permit-pty", "permit-pty"]), CertificateSettingsRequest(keyIdUsername: "a\nb"),
            ] {
                let (status, code, message) = refusal(c, "PATCH", "/v1/connections/gl/certificate-settings", bad)
                // A control character is refused by the body check (bad_request), the rest by the certificate format (invalid).
                #expect(status == 400 && ["invalid", "bad_request"].contains(code) && !message.isEmpty, "\(bad): \(status) \(code) \(message)")
            }
            // Only the fields given change; an empty username clears it.
            let after: CertificateSettingsInfo = try c.call(
                "PATCH", "/v1/connections/gl/certificate-settings", body: CertificateSettingsRequest(keyIdUsername: ""))
            #expect(after.principals == ["git"] && after.extensions == ["permit-pty"] && after.keyIdUsername == nil)
        }
        await d.stop()
    }
}
