import Foundation
import LatchkeyCrypto
package import LatchkeySSH
package import LatchkeyStore

/// The `ssh-cert` grant of one session: a key pair made for the session alone and the
/// user certificate the connection's CA signed for it.
///
/// The private key is an `Ed25519SigningKey` in guarded memory inside `key`; it is never
/// written to the store and goes when the session does (the session table drops it, its
/// memory is wiped on release). The certificate is public and lives as long.
package struct SessionCertificate: Sendable {
    package let key: DeployKey
    package let certificate: SSHCertificate
    /// The CA version that signed it (the audit target's version).
    package let authorityVersion: Int64
    package let authorityFingerprint: String

    /// How long before the session opened the certificate is already valid: a build
    /// host whose clock is a little behind the server's is not refused.
    static let clockSkewAllowance: Int64 = 60

    /// The key id: `latchkey:<project>:<session id>:<build>`, or the connection's
    /// `--cert-key-id-username` (GitLab matches the key id to a user).
    static func keyID(project: String, sessionID: String, build: String, username: String?) -> String {
        username ?? "latchkey:\(project):\(sessionID):\(build)"
    }

    /// The certificate request of a session: valid from a minute before it opened until
    /// its expiry (whole seconds, rounded down: the certificate never outlives the
    /// session), with the connection's principals and extensions.
    static func request(
        serial: UInt64, keyID: String, settings: CertificateSettings, openedAt: Timestamp, expiresAt: Timestamp
    ) throws(SSHKeyError) -> SSHCertificate.Request {
        let after = max(0, openedAt.microseconds / 1_000_000 - clockSkewAllowance)
        let before = max(0, expiresAt.microseconds / 1_000_000)
        var extensions: [SSHCertificateOption] = []
        for e in settings.extensions { extensions.append(try SSHCertificateOption(parsing: e)) }
        return SSHCertificate.Request(
            serial: serial, keyID: keyID, principals: settings.principals, validAfter: UInt64(after), validBefore: UInt64(before),
            extensions: extensions)
    }

    /// The audit note of an issue: serial, key id, validity and principals (principals
    /// last: a row's fields are capped, and a long list loses its tail, not the serial).
    var auditNote: String {
        "serial=\(certificate.serial) key_id=\(certificate.keyID) valid=\(Self.utc(certificate.validAfter))/\(Self.utc(certificate.validBefore)) principals=\(certificate.principals.joined(separator: ","))"
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`.
    static func utc(_ seconds: UInt64) -> String {
        var t = time_t(Int64(clamping: seconds))
        var parts = tm()
        gmtime_r(&t, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday), Int(parts.tm_hour),
            Int(parts.tm_min), Int(parts.tm_sec))
    }
}
