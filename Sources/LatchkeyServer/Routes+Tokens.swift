import Foundation
import LatchkeyAPI
import LatchkeyCrypto
import LatchkeyStore
import GRDB

extension Vault {
    func addTokenRoutes(_ r: inout Router) {
        r.add(.GET, "/v1/intake-key") { [self] req in
            let op = try await authorize(req, as: .admin, action: "intake-key.show", target: AuditTarget())
            return .json(IntakeKey(publicKey: Data(keyRing.intake.publicKey).base64EncodedString()))
        }
        r.add(.POST, "/v1/connections/{name}/tokens") { [self] req in try await putToken(req) }
        r.add(.GET, "/v1/tokens") { [self] req in
            let connection = req.query["connection"]
            let op = try await authorize(req, as: .admin, action: "token.list", target: AuditTarget(connection: connection))
            return .json(try await op.read { db in
                let now = Timestamp.now()
                let connections = try connection.map { [try Connection.find($0, in: db).connection] } ?? Connection.all(in: db)
                return try connections.flatMap { c in
                    try SecretVersions.list(kinds: [.token, .oauthClient], ownerPrefix: "connection:\(c.name)", in: db, now: now)
                        .filter { $0.owner == "connection:\(c.name)" }
                        .map { self.tokenInfo($0, connection: c.name, now: now) }
                }
            })
        }
        r.add(.POST, "/v1/connections/{name}/tokens/revoke") { [self] req in
            let name = req.parameters["name"] ?? ""
            let body = req.body.readableBytes > 0 ? try req.decode(TokenRevokeRequest.self) : TokenRevokeRequest()
            let kind = SecretKind(rawValue: body.kind ?? "token") ?? .token
            let target = AuditTarget(connection: name, kind: kind.rawValue, version: body.version)
            let op = try await authorize(req, as: .admin, action: "token.revoke", target: target)
            let revoked = try await op.change { db in
                _ = try Connection.find(name, in: db)
                return try SecretVersions.revoke(kind: kind, owner: "connection:\(name)", version: body.version, in: db)
            }
            let named = body.version
            let ended = await endSessions(.tokenRevoked, requestID: req.requestID) { s in
                s.connection == name && s.tokenKind == kind && s.tokenVersion.map { revoked.contains($0) || $0 == named } == true
            }
            return .json(RevokeResult(revokedVersions: revoked, endedSessions: ended))
        }
    }

    private func putToken(_ req: Request) async throws -> Response {
        let name = req.parameters["name"] ?? ""
        let body = try req.decode(TokenPutRequest.self)
        let kindText = body.kind ?? "token"
        let target = AuditTarget(connection: name, kind: kindText)
        let op = try await authorize(req, as: .admin, action: "token.put", target: target)
        func bad(_ message: String) async throws -> APIError {
            try await op.refuse(.badRequest("invalid", message))
        }
        guard let kind = SecretKind(rawValue: kindText), kind != .deployKey else {
            throw try await bad("token kind must be token or oauth-client, not '\(Names.printable(kindText))'")
        }
        if kind == .token, (body.username ?? "").isEmpty { throw try await bad("a token needs --username (the account it belongs to)") }
        if kind == .oauthClient, (body.clientId ?? "").isEmpty { throw try await bad("an oauth-client secret needs --client-id") }
        let scopes = body.scopes ?? []
        for field in [body.username ?? "", body.clientId ?? ""] + scopes where field.utf8.count > 256 || field.unicodeScalars.contains(where: { $0.value < 0x20 }) {
            throw try await bad("username, client id and scopes must be at most 256 printable characters")
        }
        var expiry: Timestamp?
        if let text = body.expires {
            do { expiry = try AccessToken.parseExpiry(text) } catch { throw try await op.refuse(APIError(error)!) }
        }
        if let expiry, expiry <= Timestamp.now() { throw try await bad("--expires \(body.expires!) is not in the future") }
        let graceSeconds = body.graceSeconds ?? Self.defaultGrace.components.seconds
        guard (0...Self.maxGraceSeconds).contains(graceSeconds) else { throw try await bad("grace must be between 0 s and 30 days") }
        guard let sealed = Data(base64Encoded: body.sealedToken), sealed.count <= AccessToken.maxBytes + IntakeKeyPair.sealOverheadBytes
        else { throw try await bad("sealedToken is not base64 of a sealed box (or is over 4 KiB)") }
        let token: SecretBytes
        do {
            token = try keyRing.intake.open(Array(sealed))
        } catch {
            throw try await op.refuse(.badRequest("seal_open_failed",
                "the sealed token did not open: it was altered, or sealed to another daemon's intake key (see `latchkey intake-key`)"))
        }
        let serverKind: ConnectionKind
        do {
            serverKind = try await store.database.read { db in try Connection.find(name, in: db).connection.kind }
        } catch {
            throw try await op.refuse(APIError.from(error) ?? .internalFault)
        }
        let warnings: [String]
        do { warnings = try AccessToken.check(token, for: serverKind, kind: kind) } catch { throw try await op.refuse(APIError(error)!) }
        let fingerprint = "lk:" + Hex.encode(keyRing.keyedHash(token, purpose: "token-fingerprint").prefix(8))
        let version = try await op.change { db in
            let (connectionID, c) = try Connection.find(name, in: db)
            return try SecretVersions.add(
                kind: kind, owner: "connection:\(c.name)", connectionID: connectionID, grace: .seconds(graceSeconds), keyRing: self.keyRing, in: db
            ) { _ in
                var attrs = ["fingerprint": fingerprint, "scopes": scopes.joined(separator: ",")]
                attrs["username"] = body.username
                attrs["client_id"] = body.clientId
                attrs["expires"] = body.expires
                return (token, attrs)
            }
        }
        sessions.retire(kind: kind, owner: "connection:\(name)", before: version.version, at: Timestamp.now().adding(seconds: graceSeconds))
        if graceSeconds == 0 {
            let current = version.version
            _ = await endSessions(.tokenRevoked, requestID: req.requestID) { s in
                s.connection == name && s.tokenKind == kind && s.tokenVersion.map { $0 < current } == true
            }
        }
        var info = self.tokenInfo(version, connection: name, now: .now())
        info.warnings = warnings
        for w in warnings { logger.warning("token.put: \(w)", metadata: ["connection": "\(name)", "version": "\(version.version)"]) }
        return .json(info, status: .created)
    }

    func tokenInfo(_ v: SecretVersion, connection: String, now: Timestamp) -> TokenInfo {
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
            warnings: [])
    }
}
