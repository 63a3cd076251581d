import Foundation
package import NIOCore
package import LatchkeyAPI
package import LatchkeyAudit
package import LatchkeyCrypto
package import LatchkeyPolicy
package import LatchkeySSH
package import LatchkeyStore

/// The `ssh-cert` grant: issued when the session opens, released to its build as files
/// (`GET /v1/session/ssh-cert`, through `release`) or used through the session's agent.
extension Vault {
    /// Issues a session's certificate: a fresh ed25519 key in guarded memory, the next
    /// serial of the connection's CA (committed before anything is signed with it), the
    /// CA's signature, and a durable `ssh-cert.issue` row (serial, key id, validity,
    /// principals) before the session — and so the certificate — can be used. A
    /// connection with no CA, no principals or settings the format refuses is a refusal
    /// (the session's own row records it), and spends no serial.
    func issueSessionCertificate(
        _ op: Operation, project: String, connection: String, sessionID: String, build: String, openedAt: Timestamp, expiresAt: Timestamp
    ) async throws -> SessionCertificate {
        let owner = Self.connectionOwner(connection)
        let found: (connectionID: Int64, version: SecretVersion, sealed: SealedSecret, settings: CertificateSettings) =
            try await store.database.read { db in
                let (connectionID, _) = try Connection.find(connection, in: db)
                guard let v = try SecretVersions.findActive(kind: .certificateAuthority, owner: owner, in: db),
                    let sealed = try SecretVersions.sealed(kind: .certificateAuthority, owner: owner, version: v.version, in: db)
                else {
                    throw APIError(
                        .noCertificateAuthority,
                        "connection '\(connection)' has no active SSH certificate authority; an admin runs `latchkey connection ca create \(connection)`")
                }
                let settings = try CertificateSettings.find(connectionID: connectionID, in: db)
                guard !settings.principals.isEmpty else {
                    throw APIError(
                        .noCertificatePrincipals,
                        "connection '\(connection)' names no certificate principals; an admin runs `latchkey connection set \(connection) --cert-principal USER`")
                }
                return (connectionID, v, sealed, settings)
            }
        let authority = try CertificateAuthority(key: DeployKey(openSSHPrivateKey: openSealed(found.sealed, for: found.version)))
        let subject = try DeployKey.generate(type: .ed25519)
        let keyID = SessionCertificate.keyID(project: project, sessionID: sessionID, build: build, username: found.settings.keyIDUsername)
        var request: SSHCertificate.Request
        do {
            // Checked before a serial is spent: settings the format refuses answer 409, not 500.
            request = try SessionCertificate.request(serial: 1, keyID: keyID, settings: found.settings, openedAt: openedAt, expiresAt: expiresAt)
            _ = try SSHCertificate.issue(for: subject, request, by: authority)
        } catch let e as SSHKeyError {
            throw APIError(.certificateSettingsInvalid, "cannot issue the session's certificate: \(e.description)")
        }
        request.serial = try await store.database.write { db in try CertificateSerials.reserve(connectionID: found.connectionID, in: db) }
        let issued = SessionCertificate(
            key: subject, certificate: try SSHCertificate.issue(for: subject, request, by: authority), authorityVersion: found.version.version,
            authorityFingerprint: authority.fingerprint)
        var actor = op.actor
        actor.sessionID = sessionID
        let row = Operation(
            vault: self, request: op.request, actor: actor, action: .sshCertIssue,
            target: AuditTarget(connection: connection, project: project, kind: SecretKind.certificateAuthority.rawValue, version: found.version.version))
        do {
            _ = try await audit.append(row.entry(.granted, reason: issued.auditNote))
        } catch let e as AuditError {
            throw APIError.auditUnavailable(e)
        }
        return issued
    }

    /// What `GET /v1/session/ssh-cert` answers: the session key as an openssh-key-v1 PEM
    /// (from guarded memory straight into the buffer) and its certificate line.
    static func certificateBody(_ s: BuildSession, _ issued: SessionCertificate) throws -> ByteBuffer {
        let comment = "latchkey:\(s.project):\(s.id)"
        let pem = try issued.key.openSSHPrivateKey(comment: comment)
        let cert = issued.certificate
        var json = SecretJSON(capacity: 2048 + pem.count)
        json.field("connection", s.connection)
        json.field("project", s.project)
        json.field("serial", Int64(clamping: cert.serial))
        json.field("keyId", cert.keyID)
        json.field("principals", cert.principals)
        json.field("validAfter", SessionCertificate.utc(cert.validAfter))
        json.field("validBefore", SessionCertificate.utc(cert.validBefore))
        json.field("caFingerprint", issued.authorityFingerprint)
        json.field("certificate", cert.line(comment: comment))
        json.field("privateKey", secret: pem)
        return json.finish()
    }
}
