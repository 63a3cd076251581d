import LatchkeyAPI
import LatchkeyCrypto
import LatchkeySSH
import LatchkeyStore
import GRDB

/// A connection's SSH certificate authority (a secret kind of its own, `ssh-ca`, owned by
/// `connection:<name>`: sealed, versioned, rotatable with grace) and the settings its
/// certificates carry. The CA's private key is never answered; its public key line is.
extension Vault {
    static func connectionOwner(_ name: String) -> String { "connection:\(name)" }

    /// `POST /v1/connections/{name}/ca` and `.../ca/rotate`.
    func createCertificateAuthority(_ req: Request, rotate: Bool) async throws -> Response {
        let name = req.parameters["name"] ?? ""
        let body = req.body.readableBytes > 0 ? try req.decode(CertificateAuthorityRequest.self) : CertificateAuthorityRequest()
        let target = AuditTarget(connection: name, kind: SecretKind.certificateAuthority.rawValue)
        let op = try await authorize(req, as: .admin, action: rotate ? "ssh-ca.rotate" : "ssh-ca.create", target: target)
        guard let type = CertificateAuthorityType(rawValue: body.type ?? CertificateAuthorityType.ed25519.rawValue) else {
            throw try await op.refuse(
                .badRequest("invalid", "CA type must be ed25519, ecdsa-p256 or rsa-3072, not '\(Names.printable(body.type ?? ""))'"))
        }
        let graceSeconds = body.graceSeconds ?? Self.defaultGrace.components.seconds
        guard (0...Self.maxGraceSeconds).contains(graceSeconds) else {
            throw try await op.refuse(.badRequest("invalid", "grace must be between 0 s and 30 days"))
        }
        // Key generation (RSA takes a while) happens before the write transaction.
        let ca = try CertificateAuthority.generate(type: type)
        let owner = Self.connectionOwner(name)
        let version = try await op.change { db in
            let (connectionID, _) = try Connection.find(name, in: db)
            let existing = try? SecretVersions.find(kind: .certificateAuthority, owner: owner, version: nil, in: db)
            if rotate && existing == nil {
                throw StoreError.notFound(what: "an active CA for connection '\(name)' to rotate; create one with `latchkey connection ca create \(name)`")
            }
            if !rotate, let existing {
                throw StoreError.conflict(
                    what: "connection '\(name)' already has CA v\(existing.version); use `latchkey connection ca rotate \(name)` for a new one")
            }
            return try SecretVersions.add(
                kind: .certificateAuthority, owner: owner, connectionID: connectionID, grace: .seconds(graceSeconds), keyRing: self.keyRing,
                in: db
            ) { version in
                let comment = "latchkey-ca:\(name):v\(version)"
                return (try ca.key.openSSHPrivateKey(comment: comment), [
                    "type": type.rawValue, "fingerprint": ca.fingerprint, "public_key": ca.publicKeyLine(comment: comment),
                ])
            }
        }
        return .json(certificateAuthorityInfo(version, connection: name), status: .created)
    }

    /// `GET /v1/connections/{name}/ca`: every version, oldest first.
    func listCertificateAuthorities(_ req: Request) async throws -> Response {
        let name = req.parameters["name"] ?? ""
        let op = try await authorize(
            req, as: .admin, action: "ssh-ca.show", target: AuditTarget(connection: name, kind: SecretKind.certificateAuthority.rawValue))
        return .json(try await op.read { db in
            _ = try Connection.find(name, in: db)
            return try SecretVersions.list(kind: .certificateAuthority, owner: Self.connectionOwner(name), in: db)
                .map { self.certificateAuthorityInfo($0, connection: name) }
        })
    }

    /// `POST /v1/connections/{name}/ca/revoke`: revokes at once and ends the sessions whose
    /// certificate that version signed (their agents go with them).
    func revokeCertificateAuthority(_ req: Request) async throws -> Response {
        let name = req.parameters["name"] ?? ""
        let body = req.body.readableBytes > 0 ? try req.decode(RevokeRequest.self) : RevokeRequest()
        let target = AuditTarget(connection: name, kind: SecretKind.certificateAuthority.rawValue, version: body.version)
        let op = try await authorize(req, as: .admin, action: "ssh-ca.revoke", target: target)
        let revoked = try await op.change { db in
            _ = try Connection.find(name, in: db)
            return try SecretVersions.revoke(kind: .certificateAuthority, owner: Self.connectionOwner(name), version: body.version, in: db)
        }
        let ended = await endSessions(.certificateAuthorityRevoked, requestID: req.requestID) { s in
            s.connection == name && s.certificate.map { revoked.contains($0.authorityVersion) } == true
        }
        return .json(RevokeResult(revokedVersions: revoked, endedSessions: ended))
    }

    /// `PATCH /v1/connections/{name}/certificate-settings`: checked here against the
    /// certificate format, so a session never fails to issue over a bad setting.
    func setCertificateSettings(_ req: Request) async throws -> Response {
        let name = req.parameters["name"] ?? ""
        let body = try req.decode(CertificateSettingsRequest.self)
        let op = try await authorize(req, as: .admin, action: "connection.set-certificates", target: AuditTarget(connection: name))
        if let problem = Self.problem(with: body) {
            throw try await op.refuse(.badRequest("invalid", problem.description))
        }
        let info = try await op.change { db in
            let (connectionID, _) = try Connection.find(name, in: db)
            var settings = try CertificateSettings.find(connectionID: connectionID, in: db)
            if let p = body.principals { settings.principals = p }
            if let e = body.extensions { settings.extensions = e }
            if let u = body.keyIdUsername { settings.keyIDUsername = u.isEmpty ? nil : u }
            try CertificateSettings.save(settings, connectionID: connectionID, in: db)
            return CertificateSettingsInfo(
                connection: name, principals: settings.principals, extensions: settings.extensions, keyIdUsername: settings.keyIDUsername,
                lastSerial: try CertificateSerials.last(connectionID: connectionID, in: db))
        }
        return .json(info)
    }

    /// What the certificate format refuses in a settings change, or nil.
    static func problem(with body: CertificateSettingsRequest) -> SSHKeyError? {
        func check() throws(SSHKeyError) {
            if let principals = body.principals { try SSHCertificate.validate(principals: principals) }
            if let extensions = body.extensions {
                var parsed: [SSHCertificateOption] = []
                for e in extensions { parsed.append(try SSHCertificateOption(parsing: e)) }
                try SSHCertificateOption.checkUnique(parsed, what: "--cert-extension")
            }
            if let username = body.keyIdUsername, !username.isEmpty { try SSHCertificate.validate(keyID: username) }
        }
        do { try check() } catch { return error }
        return nil
    }

    func certificateAuthorityInfo(_ v: SecretVersion, connection: String) -> CertificateAuthorityInfo {
        CertificateAuthorityInfo(
            connection: connection, version: v.version, type: v.attributes["type"] ?? "?", fingerprint: v.attributes["fingerprint"] ?? "",
            publicKey: v.attributes["public_key"] ?? "", state: v.state.rawValue, retireAt: v.state == .retiring ? v.retireAt?.description : nil,
            revokedAt: v.revokedAt?.description, createdAt: v.createdAt.description)
    }
}
