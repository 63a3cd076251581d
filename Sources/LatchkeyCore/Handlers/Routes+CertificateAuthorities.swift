package import LatchkeyAPI
package import LatchkeyCrypto
package import LatchkeySSH
package import LatchkeyStore

/// A connection's SSH certificate authority (a secret kind of its own, `ssh-ca`, owned by
/// `connection:<name>`: sealed, versioned, rotatable with grace) and the settings its
/// certificates carry. The CA's private key is never answered; its public key line is.
extension Vault {
    static func connectionOwner(_ name: String) -> String { "connection:\(name)" }

    /// `POST /v1/connections/{name}/ca` and `.../ca/rotate`.
    func createCertificateAuthority(_ op: inout Operation, _ body: CertificateAuthorityRequest, rotate: Bool) async throws -> CertificateAuthorityInfo {
        let name = op.request.parameters["name"] ?? ""
        op.target = AuditTarget(connection: name, kind: SecretKind.certificateAuthority.rawValue)
        guard let type = CertificateAuthorityType(rawValue: body.type ?? CertificateAuthorityType.ed25519.rawValue) else {
            throw APIError.invalid("CA type must be ed25519, ecdsa-p256 or rsa-3072, not '\(Names.printable(body.type ?? ""))'")
        }
        let graceSeconds = body.graceSeconds ?? Self.defaultGrace.components.seconds
        guard (0...Self.maxGraceSeconds).contains(graceSeconds) else {
            throw APIError.invalid("grace must be between 0 s and 30 days")
        }
        let owner = Self.connectionOwner(name)
        // The cheap checks first, then key generation (RSA takes a while), then the write
        // transaction, which checks again.
        let check: @Sendable (StoreDB) throws -> Int64 = { db in
            let (connectionID, _) = try Connection.find(name, in: db)
            let existing = try SecretVersions.findActive(kind: .certificateAuthority, owner: owner, in: db)
            if rotate && existing == nil {
                throw StoreError.conflict(what: "connection '\(name)' has no active CA to rotate; create one with `latchkey connection ca create \(name)`")
            }
            if !rotate, let existing {
                throw StoreError.conflict(
                    what: "connection '\(name)' already has CA v\(existing.version); use `latchkey connection ca rotate \(name)` for a new one")
            }
            return connectionID
        }
        do { _ = try await store.database.read(check) } catch { throw try await op.fail(error) }
        let ca = try CertificateAuthority.generate(type: type)
        let version = try await op.change { db in
            let connectionID = try check(db)
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
        return certificateAuthorityInfo(version, connection: name)
    }

    /// `GET /v1/connections/{name}/ca`: every version, oldest first.
    func listCertificateAuthorities(_ op: inout Operation) async throws -> [CertificateAuthorityInfo] {
        let name = op.request.parameters["name"] ?? ""
        op.target = AuditTarget(connection: name, kind: SecretKind.certificateAuthority.rawValue)
        return try await op.read { db in
            _ = try Connection.find(name, in: db)
            return try SecretVersions.list(kind: .certificateAuthority, owner: Self.connectionOwner(name), in: db)
                .map { self.certificateAuthorityInfo($0, connection: name) }
        }
    }

    /// `POST /v1/connections/{name}/ca/revoke`: revokes at once and ends the sessions whose
    /// certificate a revoked version signed (their agents go with them).
    func revokeCertificateAuthorities(_ op: inout Operation, _ body: RevokeRequest) async throws -> RevokeResult {
        let name = op.request.parameters["name"] ?? ""
        op.target = AuditTarget(connection: name, kind: SecretKind.certificateAuthority.rawValue, version: body.version)
        let revoked = try await op.change { db in
            _ = try Connection.find(name, in: db)
            return try SecretVersions.revoke(kind: .certificateAuthority, owner: Self.connectionOwner(name), version: body.version, in: db)
        }
        let ended = await endSessions(.certificateAuthorityRevoked, requestID: op.request.requestID) { s in
            s.connection == name && s.certificate.map { revoked.contains($0.authorityVersion) } == true
        }
        await truncateWAL(after: "ssh-ca.revoke")
        return RevokeResult(revokedVersions: revoked, endedSessions: ended)
    }

    /// `PATCH /v1/connections/{name}/certificate-settings`: checked here against the
    /// certificate format, so a session does not fail to issue over a bad setting.
    func setCertificateSettings(_ op: inout Operation, _ body: CertificateSettingsRequest) async throws -> CertificateSettingsInfo {
        let name = op.request.parameters["name"] ?? ""
        op.target = AuditTarget(connection: name)
        if let problem = Self.problem(with: body) { throw APIError.invalid(problem.description) }
        return try await op.change { db in
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
    }

    /// `GET /v1/connections/{name}/certificate-settings`: what the certificates say now.
    func showCertificateSettings(_ op: inout Operation) async throws -> CertificateSettingsInfo {
        let name = op.request.parameters["name"] ?? ""
        op.target = AuditTarget(connection: name)
        return try await op.read { db in
            let (connectionID, _) = try Connection.find(name, in: db)
            let settings = try CertificateSettings.find(connectionID: connectionID, in: db)
            return CertificateSettingsInfo(
                connection: name, principals: settings.principals, extensions: settings.extensions, keyIdUsername: settings.keyIDUsername,
                lastSerial: try CertificateSerials.last(connectionID: connectionID, in: db))
        }
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
