package import LatchkeyCrypto
import Foundation

/// The kinds of secret a store keeps for users.
package enum SecretKind: String, Sendable, Codable {
    case deployKey = "deploy-key"
    case token
    case oauthClient = "oauth-client"
    /// A connection's SSH certificate authority (owner `connection:<name>`).
    case certificateAuthority = "ssh-ca"
    /// A connection's GitHub App private key (PEM, RSA; owner `connection:<name>`); its
    /// attributes carry the App id and, if pinned, the installation id.
    case githubApp = "github-app"
    /// A repository token minted for one session (owner `minted:<session id>:<n>`),
    /// sealed only so that it can be revoked after a restart; destroyed once revoked.
    case mintedToken = "minted-token"
    /// A project's webhook secret (owner `project:<name>`): 32 random bytes as 64
    /// lower-case hex characters, the text the SCM server signs deliveries with.
    case webhookSecret = "webhook-secret"
}

/// A version's life: active → retiring (usable until the grace ends) → revoked.
package enum SecretState: String, Sendable, Codable {
    case active, retiring, revoked
}

/// One version of a secret, as admins see it: public attributes only.
package struct SecretVersion: Sendable, Codable, Equatable {
    package var kind: SecretKind
    package var owner: String
    package var version: Int64
    /// The state in force now (a retiring version past its grace reads as revoked).
    package var state: SecretState
    package var retireAt: Timestamp?
    package var revokedAt: Timestamp?
    package var createdAt: Timestamp
    package var attributes: [String: String]
    package var generation: Int64

    /// Whether a build may still receive it at `now`.
    package func isUsable(at now: Timestamp) -> Bool {
        switch state {
        case .active: true
        case .retiring: retireAt.map { now < $0 } ?? false
        case .revoked: false
        }
    }

    package var binding: RecordBinding { RecordBinding(kind: kind.rawValue, id: owner, version: version) }
}

/// Reads and writes secret versions inside a caller's transaction.
package enum SecretVersions {
    /// Seals the payload made by `make` for the next version (it receives the version
    /// number, e.g. for a key comment) and makes it active. The previous active version
    /// turns retiring until `now + grace` (revoked at once when grace is zero).
    package static func add(
        kind: SecretKind, owner: String, projectID: Int64? = nil, connectionID: Int64? = nil, grace: Duration,
        keyRing: KeyRing, in db: StoreDB, now: Timestamp = .now(),
        make: (Int64) throws -> (payload: SecretBytes, attributes: [String: String])
    ) throws -> SecretVersion {
        let next = (try Int64.fetchOne(
            db, sql: "SELECT MAX(version) FROM secret_version WHERE kind = ? AND owner = ?", arguments: [kind.rawValue, owner]) ?? 0) + 1
        let graceSeconds = grace.components.seconds
        let bindings = try db.bindings()
        if graceSeconds > 0 {
            try retire(kind: kind, owner: owner, at: now.adding(seconds: graceSeconds), bindings: bindings, in: db)
        } else {
            _ = try revoke(kind: kind, owner: owner, version: nil, in: db, now: now, onlyActive: true)
        }
        let (payload, attributes) = try make(next)
        let record = RecordBinding(kind: kind.rawValue, id: owner, version: next)
        let sealed = try keyRing.seal(payload, for: record)
        let attrs = String(decoding: try JSONEncoder.sorted.encode(attributes), as: UTF8.self)
        let columns = RowBindings.SecretVersionColumns(
            kind: kind.rawValue, owner: owner, projectID: projectID, connectionID: connectionID, version: next, state: SecretState.active.rawValue,
            retireAt: nil, revokedAt: nil, createdAt: now.description, attributes: attrs)
        try db.execute(
            sql: """
                INSERT INTO secret_version(kind, owner, project_id, connection_id, version, state, created_at, attributes,
                    sealed_payload, wrapped_dek, generation, binding_mac)
                VALUES (?, ?, ?, ?, ?, 'active', ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                kind.rawValue, owner, projectID, connectionID, next, now.description, attrs, Data(sealed.sealedPayload),
                Data(sealed.wrappedDataKey), sealed.generation, Data(bindings.mac(columns)),
            ])
        return SecretVersion(
            kind: kind, owner: owner, version: next, state: .active, retireAt: nil, revokedAt: nil, createdAt: now,
            attributes: attributes, generation: sealed.generation)
    }

    /// Revokes `version`, or with nil every version not yet revoked (`onlyActive`: just
    /// the active one). Revoked material is destroyed: its sealed bytes are overwritten.
    /// Returns the versions revoked.
    @discardableResult
    package static func revoke(
        kind: SecretKind, owner: String, version: Int64?, in db: StoreDB, now: Timestamp = .now(), onlyActive: Bool = false
    ) throws -> [Int64] {
        var sql = "SELECT version FROM secret_version WHERE kind = ? AND owner = ? AND state != 'revoked'"
        var args: SQLArguments = [kind.rawValue, owner]
        if let version {
            guard try Bool.fetchOne(
                    db, sql: "SELECT 1 FROM secret_version WHERE kind = ? AND owner = ? AND version = ?", arguments: [kind.rawValue, owner, version]) == true
            else { throw StoreError.notFound(what: "\(kind.rawValue) version \(version) of \(owner)") }
            sql += " AND version = ?"
            args += [version]
        } else if onlyActive {
            sql += " AND state = 'active'"
        }
        let versions = try Int64.fetchAll(db, sql: sql, arguments: args)
        let bindings = try db.bindings()
        for v in versions {
            // The row's binding is checked before the change and made anew after it: a
            // revocation never blesses what a store writer changed.
            var columns = try verifiedColumns(kind: kind, owner: owner, version: v, bindings: bindings, in: db)
            columns.state = SecretState.revoked.rawValue
            columns.revokedAt = now.description
            try db.execute(
                sql: """
                    UPDATE secret_version SET state = 'revoked', revoked_at = ?, sealed_payload = ?, wrapped_dek = ?, binding_mac = ?
                    WHERE kind = ? AND owner = ? AND version = ?
                    """,
                arguments: [now.description, Data(), Data(), Data(bindings.mac(columns)), kind.rawValue, owner, v])
        }
        return versions
    }

    /// The active versions of (kind, owner) turn retiring until `retireAt`.
    private static func retire(kind: SecretKind, owner: String, at retireAt: Timestamp, bindings: RowBindings, in db: StoreDB) throws {
        let active = try Int64.fetchAll(
            db, sql: "SELECT version FROM secret_version WHERE kind = ? AND owner = ? AND state = 'active'", arguments: [kind.rawValue, owner])
        for v in active {
            var columns = try verifiedColumns(kind: kind, owner: owner, version: v, bindings: bindings, in: db)
            columns.state = SecretState.retiring.rawValue
            columns.retireAt = retireAt.description
            try db.execute(
                sql: "UPDATE secret_version SET state = 'retiring', retire_at = ?, binding_mac = ? WHERE kind = ? AND owner = ? AND version = ?",
                arguments: [retireAt.description, Data(bindings.mac(columns)), kind.rawValue, owner, v])
        }
    }

    /// Makes a retiring version active again (a rotation whose new version the SCM server
    /// refused: the previous one stays in force as if the rotation had not happened).
    package static func reinstate(kind: SecretKind, owner: String, version: Int64, in db: StoreDB) throws {
        let bindings = try db.bindings()
        var columns = try verifiedColumns(kind: kind, owner: owner, version: version, bindings: bindings, in: db)
        guard columns.state == SecretState.retiring.rawValue else { return }
        columns.state = SecretState.active.rawValue
        columns.retireAt = nil
        try db.execute(
            sql: "UPDATE secret_version SET state = 'active', retire_at = NULL, binding_mac = ? WHERE kind = ? AND owner = ? AND version = ?",
            arguments: [Data(bindings.mac(columns)), kind.rawValue, owner, version])
    }

    /// Brings a retiring version's end forward to `until` (revoked at once when `until` is
    /// not in the future); a version already ending sooner is left as it is.
    package static func endGrace(kind: SecretKind, owner: String, version: Int64, at until: Timestamp, in db: StoreDB, now: Timestamp = .now()) throws {
        guard until > now else {
            try revoke(kind: kind, owner: owner, version: version, in: db, now: now)
            return
        }
        let bindings = try db.bindings()
        var columns = try verifiedColumns(kind: kind, owner: owner, version: version, bindings: bindings, in: db)
        guard columns.state == SecretState.retiring.rawValue, let current = columns.retireAt.flatMap(Timestamp.init(parsing:)), until < current
        else { return }
        columns.retireAt = until.description
        try db.execute(
            sql: "UPDATE secret_version SET retire_at = ?, binding_mac = ? WHERE kind = ? AND owner = ? AND version = ?",
            arguments: [until.description, Data(bindings.mac(columns)), kind.rawValue, owner, version])
    }

    /// A row's bound columns, once its MAC verified.
    private static func verifiedColumns(
        kind: SecretKind, owner: String, version: Int64, bindings: RowBindings, in db: StoreDB
    ) throws -> RowBindings.SecretVersionColumns {
        guard let row = try SQLRow.fetchOne(
                db, sql: "SELECT * FROM secret_version WHERE kind = ? AND owner = ? AND version = ?", arguments: [kind.rawValue, owner, version])
        else { throw StoreError.notFound(what: "\(kind.rawValue) version \(version) of \(owner)") }
        try bindings.verifySecretVersion(row)
        return RowBindings.SecretVersionColumns(row: row)
    }

    /// Turns retiring versions whose grace has ended into revoked ones (and destroys
    /// their material). Returns what was retired.
    package static func sweep(in db: StoreDB, now: Timestamp = .now()) throws -> [(SecretKind, String, Int64)] {
        let rows = try SQLRow.fetchAll(
            db, sql: "SELECT kind, owner, version, retire_at FROM secret_version WHERE state = 'retiring'")
        var retired: [(SecretKind, String, Int64)] = []
        for row in rows {
            guard let at = Timestamp(parsing: row["retire_at"]), at <= now, let kind = SecretKind(rawValue: row["kind"]) else { continue }
            let owner: String = row["owner"]
            let version: Int64 = row["version"]
            try revoke(kind: kind, owner: owner, version: version, in: db, now: now)
            retired.append((kind, owner, version))
        }
        return retired
    }

    package static func list(kind: SecretKind, owner: String, in db: StoreDB, now: Timestamp = .now()) throws -> [SecretVersion] {
        let bindings = try db.bindings()
        return try db.mapRows(
            sql: "SELECT * FROM secret_version WHERE kind = ? AND owner = ? ORDER BY version", arguments: [kind.rawValue, owner]
        ) { try SecretVersion(row: $0, now: now, bindings: bindings) }
    }

    /// One owner's versions of several kinds (a connection's tokens and authorities).
    package static func list(kinds: [SecretKind], owner: String, in db: StoreDB, now: Timestamp = .now()) throws -> [SecretVersion] {
        try list(kinds: kinds, where: "owner = ?", owner, in: db, now: now)
    }

    /// Versions of several owners at once (e.g. every connection's tokens).
    package static func list(kinds: [SecretKind], ownerPrefix: String, in db: StoreDB, now: Timestamp = .now()) throws -> [SecretVersion] {
        try list(kinds: kinds, where: "owner LIKE ?", ownerPrefix + "%", in: db, now: now)
    }

    private static func list(kinds: [SecretKind], where ownerCondition: String, _ owner: String, in db: StoreDB, now: Timestamp) throws -> [SecretVersion] {
        let placeholders = kinds.map { _ in "?" }.joined(separator: ",")
        var args = SQLArguments(kinds.map(\.rawValue))
        args += [owner]
        let bindings = try db.bindings()
        return try db.mapRows(
            sql: "SELECT * FROM secret_version WHERE kind IN (\(placeholders)) AND \(ownerCondition) ORDER BY owner, kind, version", arguments: args
        ) { try SecretVersion(row: $0, now: now, bindings: bindings) }
    }

    /// One version, or the active one when `version` is nil.
    package static func find(kind: SecretKind, owner: String, version: Int64?, in db: StoreDB, now: Timestamp = .now()) throws -> SecretVersion {
        let row: SQLRow?
        if let version {
            row = try SQLRow.fetchOne(
                db, sql: "SELECT * FROM secret_version WHERE kind = ? AND owner = ? AND version = ?",
                arguments: [kind.rawValue, owner, version])
        } else {
            row = try SQLRow.fetchOne(
                db, sql: "SELECT * FROM secret_version WHERE kind = ? AND owner = ? AND state = 'active' ORDER BY version DESC LIMIT 1",
                arguments: [kind.rawValue, owner])
        }
        guard let row else {
            throw StoreError.notFound(what: version.map { "\(kind.rawValue) version \($0) of \(owner)" } ?? "an active \(kind.rawValue) for \(owner)")
        }
        return try SecretVersion(row: row, now: now, bindings: try db.bindings())
    }

    /// The active version, or nil when there is none; a row that fails its binding
    /// still throws (it is not "absent").
    package static func findActive(kind: SecretKind, owner: String, in db: StoreDB, now: Timestamp = .now()) throws -> SecretVersion? {
        do {
            return try find(kind: kind, owner: owner, version: nil, in: db, now: now)
        } catch StoreError.notFound {
            return nil
        }
    }

    /// The sealed bytes of a version (nil once revoked and destroyed).
    package static func sealed(kind: SecretKind, owner: String, version: Int64, in db: StoreDB) throws -> SealedSecret? {
        guard let row = try SQLRow.fetchOne(
                db, sql: "SELECT sealed_payload, wrapped_dek, generation FROM secret_version WHERE kind = ? AND owner = ? AND version = ?",
                arguments: [kind.rawValue, owner, version])
        else { return nil }
        let payload: Data = row["sealed_payload"]
        guard !payload.isEmpty else { return nil }
        return SealedSecret(sealedPayload: Array(payload), wrappedDataKey: Array(row["wrapped_dek"] as Data), generation: row["generation"])
    }
}

extension SecretVersion {
    init(row: SQLRow, now: Timestamp, bindings: RowBindings) throws {
        try bindings.verifySecretVersion(row)
        guard let kind = SecretKind(rawValue: row["kind"]), let state = SecretState(rawValue: row["state"]),
            let created = Timestamp(parsing: row["created_at"])
        else { throw StoreError.corrupt(path: "store", reason: "secret_version row is malformed") }
        self.kind = kind
        owner = row["owner"]
        version = row["version"]
        retireAt = (row["retire_at"] as String?).flatMap(Timestamp.init(parsing:))
        revokedAt = (row["revoked_at"] as String?).flatMap(Timestamp.init(parsing:))
        self.state = state == .retiring && (retireAt.map { $0 <= now } ?? true) ? .revoked : state
        createdAt = created
        let attrs: String = row["attributes"]
        attributes = Self.attributes(attrs)
        generation = row["generation"]
    }

    /// The stored attributes object (string values only). The flat parser reads what this
    /// store writes; anything it does not take is left to Foundation's decoder, as before.
    static func attributes(_ json: String) -> [String: String] {
        if let fields = try? FlatJSON.parse(ArraySlice(json.utf8)) {
            var out: [String: String] = [:]
            out.reserveCapacity(fields.count)
            for (k, v) in fields {
                guard case .string(let s) = v else { return [:] }
                out[k] = s
            }
            return out
        }
        return (try? JSONDecoder().decode([String: String].self, from: Data(json.utf8))) ?? [:]
    }
}

extension JSONEncoder {
    static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }
}
