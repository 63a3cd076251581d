import Foundation
internal import NIOCore
import LatchkeyAPI
import LatchkeyAudit
import LatchkeyCrypto
import LatchkeyPolicy
import LatchkeySSH
import LatchkeyStore
import GRDB

/// The `ssh-cert` grant: issued when the session opens, released to its build as files
/// (`GET /v1/session/ssh-cert`) or used through the session's agent.
extension Vault {
    /// Issues the session's certificate: a fresh ed25519 key in guarded memory, the next
    /// serial of the connection's CA (committed before anything is signed with it), the
    /// CA's signature, and a durable `ssh-cert.issue` row (serial, key id, validity,
    /// principals) before the session — and so the certificate — can be used.
    func issueSessionCertificate(
        op: Operation, project: String, connection: String, sessionID: String, build: String, openedAt: Timestamp, expiresAt: Timestamp
    ) async throws -> SessionCertificate {
        let owner = Self.connectionOwner(connection)
        let found: (connectionID: Int64, version: SecretVersion, sealed: SealedSecret, settings: CertificateSettings)
        do {
            found = try await store.database.read { db in
                let (connectionID, _) = try Connection.find(connection, in: db)
                guard let v = try? SecretVersions.find(kind: .certificateAuthority, owner: owner, version: nil, in: db),
                    let sealed = try SecretVersions.sealed(kind: .certificateAuthority, owner: owner, version: v.version, in: db)
                else {
                    throw APIError.conflict(
                        "no_certificate_authority",
                        "connection '\(connection)' has no active SSH certificate authority; an admin runs `latchkey connection ca create \(connection)`")
                }
                let settings = try CertificateSettings.find(connectionID: connectionID, in: db)
                guard !settings.principals.isEmpty else {
                    throw APIError.conflict(
                        "no_certificate_principals",
                        "connection '\(connection)' names no certificate principals; an admin runs `latchkey connection set \(connection) --cert-principal USER`")
                }
                return (connectionID, v, sealed, settings)
            }
        } catch {
            throw try await op.refuse(APIError.from(error) ?? .internalFault)
        }
        var actor = op.actor
        actor.sessionID = sessionID
        let issuing = Operation(
            vault: self, request: op.request, actor: actor, action: "ssh-cert.issue",
            target: AuditTarget(connection: connection, project: project, kind: SecretKind.certificateAuthority.rawValue, version: found.version.version))
        let issued: SessionCertificate
        do {
            let authority = try CertificateAuthority(key: DeployKey(openSSHPrivateKey: openSealed(found.sealed, for: found.version)))
            let subject = try DeployKey.generate(type: .ed25519)
            let keyID = SessionCertificate.keyID(project: project, sessionID: sessionID, build: build, username: found.settings.keyIDUsername)
            // Checked before a serial is spent: a setting the format refuses answers 409, not 500.
            let draft = try SessionCertificate.request(serial: 1, keyID: keyID, settings: found.settings, openedAt: openedAt, expiresAt: expiresAt)
            _ = try SSHCertificate.issue(for: subject, draft, by: authority)
            let serial = try await store.database.write { db in try CertificateSerials.reserve(connectionID: found.connectionID, in: db) }
            var request = draft
            request.serial = serial
            issued = SessionCertificate(
                key: subject, certificate: try SSHCertificate.issue(for: subject, request, by: authority), authorityVersion: found.version.version,
                authorityFingerprint: authority.fingerprint)
        } catch let e as SSHKeyError {
            throw try await issuing.refuse(.conflict("certificate_settings_invalid", "cannot issue the session's certificate: \(e.description)"))
        } catch let e as APIError {
            throw try await issuing.refuse(e)
        } catch {
            logger.error("certificate issue failed", metadata: ["request": "\(op.request.requestID)", "error": "\(error)"])
            try? await issuing.record(.failed, reason: "internal")
            throw APIError.internalFault
        }
        try await issuing.record(.granted, reason: issued.auditNote)
        return issued
    }

    /// `GET /v1/session/ssh-cert` (build): the session key as an openssh-key-v1 PEM and
    /// its certificate line. Takes a use; the granted row is durable before the key leaves.
    func releaseSessionCertificate(_ req: Request) async throws -> Response {
        var (op, s) = try await liveSession(req, action: "secret.release", target: AuditTarget(kind: Grant.sshCert.rawValue))
        guard s.grants.contains(.sshCert), let issued = s.certificate else {
            throw try await op.refuse(.forbidden("grant_missing", "this session was not granted ssh-cert"))
        }
        op.target = AuditTarget(connection: s.connection, project: s.project, kind: Grant.sshCert.rawValue, version: issued.authorityVersion)
        switch sessions.takeUse(id: s.id, now: ContinuousClock.now) {
        case .success(let used): s = used
        case .failure(.usedUp): throw try await op.refuse(.unauthorized("session_used_up", "the session has used all \(s.maxUses) of its uses"))
        case .failure(.expired):
            let id = s.id
            _ = await endSessions(.expired, requestID: req.requestID) { $0.id == id }
            throw try await op.refuse(.unauthorized("session_expired", "the session expired at \(s.expiresAt)"))
        case .failure: throw try await op.refuse(.unauthorized("invalid_session", "the session has ended"))
        }
        let session = s
        var body: SecretJSON
        do {
            let comment = "latchkey:\(session.project):\(session.id)"
            let pem = try issued.key.openSSHPrivateKey(comment: comment)
            let cert = issued.certificate
            var json = SecretJSON(capacity: 2048 + pem.count)
            json.field("connection", session.connection)
            json.field("project", session.project)
            json.field("serial", Int64(clamping: cert.serial))
            json.field("keyId", cert.keyID)
            json.field("principals", cert.principals)
            json.field("validAfter", SessionCertificate.utc(cert.validAfter))
            json.field("validBefore", SessionCertificate.utc(cert.validBefore))
            json.field("caFingerprint", issued.authorityFingerprint)
            json.field("certificate", cert.line(comment: comment))
            json.field("privateKey", secret: pem)
            body = json
            try await op.record(.granted)  // durable before a byte of the key leaves
        } catch let e as APIError {
            sessions.returnUse(id: session.id)
            throw e
        } catch {
            sessions.returnUse(id: session.id)
            logger.error("release failed", metadata: ["request": "\(req.requestID)", "error": "\(error)"])
            try? await op.record(.failed, reason: "internal")
            throw APIError.internalFault
        }
        if session.uses >= session.maxUses {
            _ = await endSessions(.usedUp, requestID: req.requestID) { $0.id == session.id }
        }
        return Response(body: body.finish())
    }
}
