import Foundation
package import LatchkeyAPI
package import LatchkeyCrypto
package import LatchkeyStore

extension Vault {
    func intakeKey(_ op: inout Operation) -> IntakeKey {
        IntakeKey(publicKey: Data(keyRing.intake.publicKey).base64EncodedString())
    }

    func listTokens(_ op: inout Operation) async throws -> [TokenInfo] {
        let connection = op.request.query["connection"]
        op.target = AuditTarget(connection: connection)
        return try await op.read { db in
            let now = Timestamp.now()
            let connections = try connection.map { [try Connection.find($0, in: db).connection] } ?? Connection.all(in: db)
            let checks = try TokenVerifications.all(ownerPrefix: "connection:", in: db)
            return try connections.flatMap { c in
                try SecretVersions.list(kinds: [.token, .oauthClient], owner: "connection:\(c.name)", in: db, now: now)
                    .map { v in
                        self.tokenInfo(v, connection: c.name, now: now, verification: v.kind == .token ? checks[v.owner]?[v.version] : nil)
                    }
            }
        }
    }

    func revokeTokens(_ op: inout Operation, _ body: TokenRevokeRequest) async throws -> RevokeResult {
        let name = op.request.parameters["name"] ?? ""
        guard let kind = SecretKind(rawValue: body.kind ?? SecretKind.token.rawValue), kind == .token || kind == .oauthClient else {
            throw APIError.invalid("token kind must be token or oauth-client, not '\(Names.printable(body.kind ?? ""))'")
        }
        op.target = AuditTarget(connection: name, kind: kind.rawValue, version: body.version)
        let (revoked, mintsWithToken) = try await op.change { db in
            let c = try Connection.find(name, in: db).connection
            return (try SecretVersions.revoke(kind: kind, owner: "connection:\(name)", version: body.version, in: db), c.kind != .githubEnterprise)
        }
        let named = body.version
        // GitLab and Bitbucket mint repository tokens with the connection's token: its
        // revocation ends the sessions holding one (their tokens are revoked on the server
        // with the next token put, if none is left).
        let endsMinted = kind == .token && mintsWithToken && !revoked.isEmpty
        let minted = mintedTokens
        let ended = await endSessions(.tokenRevoked, requestID: op.request.requestID) { s in
            (s.connection == name && s.tokenKind == kind && s.tokenVersion.map { revoked.contains($0) || $0 == named } == true)
                || (endsMinted && s.connection == name && minted.current(s.id) != nil)
        }
        await truncateWAL(after: "token.revoke")
        return RevokeResult(revokedVersions: revoked, endedSessions: ended)
    }

    func putToken(_ op: inout Operation, _ body: TokenPutRequest) async throws -> TokenInfo {
        let name = op.request.parameters["name"] ?? ""
        let kindText = body.kind ?? SecretKind.token.rawValue
        op.target = AuditTarget(connection: name, kind: kindText)
        func bad(_ message: String) -> APIError { APIError.invalid(message) }
        guard let kind = SecretKind(rawValue: kindText), kind == .token || kind == .oauthClient else {
            throw bad("token kind must be token or oauth-client, not '\(Names.printable(kindText))'")
        }
        if kind == .token, (body.username ?? "").isEmpty { throw bad("a token needs --username (the account it belongs to)") }
        if kind == .oauthClient, (body.clientId ?? "").isEmpty { throw bad("an oauth-client secret needs --client-id") }
        let scopes = body.scopes ?? []
        if let text = body.expires { _ = try AccessToken.parseExpiry(text) }
        let graceSeconds = body.graceSeconds ?? Self.defaultGrace.components.seconds
        guard (0...Self.maxGraceSeconds).contains(graceSeconds) else { throw bad("grace must be between 0 s and 30 days") }
        guard let sealed = Data(base64Encoded: body.sealedToken), sealed.count <= AccessToken.maxBytes + IntakeKeyPair.sealOverheadBytes
        else { throw bad("sealedToken is not base64 of a sealed box (or is over 4 KiB)") }
        let token: SecretBytes
        do {
            token = try keyRing.intake.open(Array(sealed))
        } catch {
            throw APIError(.sealOpenFailed,
                "the sealed token did not open: it was altered, or sealed to another daemon's intake key (see `latchkey intake-key`)")
        }
        let serverKind = try await store.database.read { db in try Connection.find(name, in: db).connection.kind }
        var warnings = try AccessToken.check(token, for: serverKind, kind: kind)
        // The server's word on the token before it is stored (Vault+TokenVerification.swift).
        var check: TokenCheck?
        var expires = body.expires
        var expiresGiven: String?
        if kind == .token, body.verify ?? true {
            let (c, more) = try await verifyCandidate(token, connection: name, requestID: op.request.requestID)
            check = c
            warnings += more
            if let day = c.report?.expiryDay, day != body.expires, let raw = c.report?.expiresAt {
                guard let t = Timestamp(parsing: day), t > Timestamp.now() else {
                    throw APIError(.tokenRejected, "\(serverKind.scmDisplayName) \(name) reports the token expired (\(raw)) — nothing was stored; put a token that is still valid")
                }
                if let given = body.expires {
                    warnings.append("--expires \(given) differs from the expiry \(serverKind.scmDisplayName) \(name) reports (\(raw)); stored \(day), the server's")
                    expiresGiven = given
                }
                expires = day
            }
            if let user = c.record.user, let given = body.username, user != given {
                warnings.append("the server says this token belongs to '\(Names.printable(user))', not to --username '\(Names.printable(given))'; stored as given")
            }
        }
        // A past --expires is refused, unless the server's own expiry replaced it.
        if let text = expires, expiresGiven == nil, let t = Timestamp(parsing: text), t <= Timestamp.now() {
            throw bad("--expires \(text) is not in the future")
        }
        let fingerprint = "lk:" + Hex.encode(keyRing.keyedHash(token, purpose: "token-fingerprint").prefix(8))
        let (storedExpires, checked) = (expires, check)
        let version = try await op.change { db in
            let (connectionID, c) = try Connection.find(name, in: db)
            let version = try SecretVersions.add(
                kind: kind, owner: "connection:\(c.name)", connectionID: connectionID, grace: .seconds(graceSeconds), keyRing: self.keyRing, in: db
            ) { _ in
                var attrs = ["fingerprint": fingerprint, "scopes": scopes.joined(separator: ",")]
                attrs["username"] = body.username
                attrs["client_id"] = body.clientId
                attrs["expires"] = storedExpires
                return (token, attrs)
            }
            if let checked { try TokenVerifications.save(checked.record, owner: version.owner, version: version.version, in: db) }
            return version
        }
        sessions.retire(kind: kind, owner: "connection:\(name)", before: version.version, at: Timestamp.now().adding(seconds: graceSeconds))
        // No grace: the sessions holding an older version end now.
        if graceSeconds == 0 {
            let current = version.version
            _ = await endSessions(.tokenRevoked, requestID: op.request.requestID) { s in
                s.connection == name && s.tokenKind == kind && s.tokenVersion.map { $0 < current } == true
            }
        }
        var info = self.tokenInfo(version, connection: name, now: .now(), verification: check?.record)
        info.warnings = warnings
        info.expiresGiven = expiresGiven
        for w in warnings { logger.warning("token.put: \(w)", metadata: ["connection": "\(name)", "version": "\(version.version)"]) }
        return info
    }

    func tokenInfo(_ v: SecretVersion, connection: String, now: Timestamp, verification: TokenVerificationRecord? = nil) -> TokenInfo {
        let expiry = v.attributes["expires"].flatMap { Timestamp(parsing: $0) }
        let days = expiry.map { AccessToken.daysLeft(until: $0, now: now) }
        let expired = expiry.map { now >= $0 } ?? false
        let scopes = (v.attributes["scopes"] ?? "").split(separator: ",").map(String.init)
        return TokenInfo(
            connection: connection, kind: v.kind.rawValue, version: v.version, username: v.attributes["username"],
            clientId: v.attributes["client_id"], scopes: scopes, expires: v.attributes["expires"], daysLeft: days,
            expiringSoon: !expired && (days.map { $0 < AccessToken.expiryWarningDays } ?? false), expired: expired,
            state: v.state.rawValue, retireAt: v.state == .retiring ? v.retireAt?.description : nil,
            revokedAt: v.revokedAt?.description, createdAt: v.createdAt.description, fingerprint: v.attributes["fingerprint"] ?? "",
            warnings: [], verification: verification?.info)
    }
}
