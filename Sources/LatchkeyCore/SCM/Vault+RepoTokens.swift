import Foundation
package import LatchkeyAPI
package import LatchkeyAudit
package import LatchkeyCrypto
package import LatchkeyPolicy
import LatchkeySCM
package import LatchkeyStore
import NIOCore

/// The `repo-token` grant: a token minted on the project's SCM server for one session,
/// scoped to its one repository, revoked on the server when the session ends.
///
/// - **When.** At the session's first `GET /v1/session/repo-token` (a session that never
///   asks mints nothing), through the outbound SCM client (retries, timeouts,
///   `scm.request` rows). Concurrent first redeems share one mint (`MintedTokenCache`).
///   A failed mint answers 502 with the server's words and takes no use.
/// - **Durable before release.** The token is sealed into `secret_version` (kind
///   `minted-token`; its connection, repository and server id in the bound attributes)
///   and its `minted_token` row written, with the `repo-token.mint` audit row, in one
///   transaction before the first byte is released.
/// - **Revocation.** Every way a session ends queues its tokens (`live` → `revoking`) in
///   the transaction that ends it — close, TTL, uses, admin revoke, policy reload, App
///   key or connection token revoked, stop (all live ones), start (all the previous run
///   left). The SCM work task works the queue with backoff (as deploy-key removals),
///   and the daemon's start works what a `kill -9` left. Revoked on the server, the
///   sealed copy is destroyed.
/// - **GitHub's hour.** An installation token lives one hour; a redeem 55 minutes after
///   the mint gets a fresh one, and the old one is queued for revocation.
extension Vault {
    /// A GitHub installation token is replaced on a redeem this long after its mint.
    static let installationTokenRefresh: Duration = {
        if let v = ProcessInfo.processInfo.environment["LATCHKEY_REPO_TOKEN_REFRESH"].flatMap(Double.init), v > 0 { return .milliseconds(Int64(v * 1000)) }
        return .seconds(55 * 60)
    }()
    /// How long the daemon's stop spends revoking its sessions' tokens before leaving the
    /// rest to the next start.
    static let revocationAtStop: Duration = .seconds(5)

    /// The name a session's token has on servers that name tokens.
    static func tokenName(sessionID: String) -> String { "latchkey-\(sessionID)" }

    static func permissionServer(_ kind: ConnectionKind) -> RepoTokenPermission.Server {
        switch kind {
        case .githubEnterprise: .github
        case .gitlab: .gitlab
        case .bitbucketServer: .bitbucket
        }
    }

    /// What a session's token will carry: the asked permissions (the server's read-only
    /// defaults when none), each allowed by the rule's `repo_token` block — more is
    /// refused (`permission_not_allowed`), never cut.
    package static func repoTokenPermissions(_ asked: [String], rule: RunnerRule, kind: ConnectionKind, connection: String) throws(APIError) -> [String] {
        let server = Self.permissionServer(kind)
        var parsed: [RepoTokenPermission] = []
        for text in asked {
            let p: RepoTokenPermission
            switch RepoTokenPermission.parse(text) {
            case .success(let ok): p = ok
            case .failure(let e): throw APIError.invalid(e.description)
            }
            guard p.server == server else {
                throw APIError.invalid(
                    "'\(Names.printable(text))' is a \(p.server.rawValue) permission; connection '\(connection)' is \(kind.rawValue), whose tokens take \(Self.permissionForms(server))")
            }
            guard !parsed.contains(p) else { continue }
            if p.server == .gitlab, p.name == "role", parsed.contains(where: { $0.name == "role" }) {
                throw APIError.invalid("ask for one GitLab role (guest, reporter, developer, maintainer, owner), not two")
            }
            parsed.append(p)
        }
        let defaults = RepoTokenCaps.defaults(for: server)
        if parsed.isEmpty {
            parsed = defaults
        } else if server == .gitlab {
            // A GitLab token needs at least one scope and has one role: the defaults fill in what is not asked.
            if !parsed.contains(where: { $0.name != "role" }) { parsed += defaults.filter { $0.name != "role" } }
            if !parsed.contains(where: { $0.name == "role" }) { parsed += defaults.filter { $0.name == "role" } }
        }
        if let refused = rule.repoToken.firstRefused(parsed) {
            let allowed = rule.repoToken.allowed(on: server)
            throw APIError(
                .permissionNotAllowed,
                "runner rule '\(rule.name)' does not allow repo-token permission '\(refused.text)'\(asked.isEmpty ? " (the default for \(kind.rawValue))" : "") (it allows: \(allowed.isEmpty ? "nothing on \(kind.rawValue)" : allowed.joined(separator: ", "))); ask an admin to add it to the rule's repo_token.permissions")
        }
        return parsed.map(\.text)
    }

    static func permissionForms(_ server: RepoTokenPermission.Server) -> String {
        switch server {
        case .github: "GitHub App permissions NAME:read|write|admin (contents:read)"
        case .gitlab: "GitLab scopes (read_repository) and a role (reporter, developer, maintainer)"
        case .bitbucket: "REPO_READ, REPO_WRITE or REPO_ADMIN"
        }
    }

    /// At open: the connection can mint (a GitHub Enterprise connection needs an active
    /// App key; the others their active token), so a session is refused at once rather
    /// than at its build's first redeem.
    func checkCanMint(connection: String, kind: ConnectionKind) async throws {
        let owner = Self.connectionOwner(connection)
        let kindNeeded: SecretKind = kind == .githubEnterprise ? .githubApp : .token
        let found = try await store.database.read { db in try SecretVersions.findActive(kind: kindNeeded, owner: owner, in: db) != nil }
        guard found else {
            if kind == .githubEnterprise {
                throw APIError(
                    .noGitHubApp,
                    "connection '\(connection)' has no active GitHub App key to mint repository tokens; an admin runs `latchkey connection app put \(connection) --app-id N < key.pem`")
            }
            throw APIError(.noToken, "connection '\(connection)' has no active token to mint repository tokens with; an admin runs `latchkey token put \(connection)`")
        }
    }

    /// `GET /v1/session/repo-token`: the session's token, minted now if it has none (or
    /// its GitHub token is due for replacement). The use was taken by the decision; a
    /// failed mint gives it back.
    func releaseRepoToken(_ op: inout Operation, _ s: BuildSession, lastUse: Bool) async throws -> Response {
        let minted: MintedRepoToken
        let request = op.request
        do {
            minted = try await mintedTokens.obtain(s.id, fresh: { t in t.refreshAt.map { ContinuousClock.now < $0 } ?? true }) { [self] previous in
                try await mint(for: s, replacing: previous, request: request)
            }
        } catch {
            sessions.returnUse(id: s.id)
            if let e = error as? APIError, e.code == .auditUnavailable { throw e }
            throw try await op.fail(error)
        }
        op.target.version = nil
        do {
            // Durable before a byte of the token leaves.
            try await op.record(.granted, note: "token id \(minted.serverTokenID) for \(minted.repository)")
        } catch {
            sessions.returnUse(id: s.id)
            throw error
        }
        metrics.released(.repoToken)
        if lastUse {
            sessions.rememberUsedUp(tokenHash: s.tokenHash, until: s.deadline)
            _ = await endSessions(.usedUp, requestID: op.request.requestID) { $0.id == s.id }
        }
        var json = SecretJSON(capacity: 1024 + minted.token.count)
        json.field("connection", s.connection)
        json.field("kind", minted.kind.rawValue)
        json.field("token", secret: minted.token)
        json.field("expiresAt", minted.expiresAt)
        json.field("permissions", minted.permissions)
        json.field("repository", minted.repository)
        return Response(body: json.finish(), holdsSecret: true)
    }

    /// Mints a token for `s` on its server and makes it durable (sealed, queued-to-be
    /// revoked when the session ends, audited) before returning it. `previous`: the token
    /// it replaces, whose revocation is queued in the same transaction.
    func mint(for s: BuildSession, replacing previous: MintedRepoToken?, request: Request) async throws -> MintedRepoToken {
        let (connection, project) = try await store.database.read { db in
            (try Connection.find(s.connection, in: db).connection, try Project.find(s.project, in: db).project)
        }
        let ask = SCMTokenMintRequest(repository: project.repo, name: Self.tokenName(sessionID: s.id), permissions: s.repoTokenPermissions)
        let mintTarget = AuditTarget(connection: s.connection, project: s.project, kind: Grant.repoToken.rawValue)
        let actor = AuditEntry.Actor(role: .build, uid: request.peer.uid, gid: request.peer.gid, pid: request.peer.pid, sessionID: s.id)
        let sessionID = s.id
        // The row that finds the token by its name should the server's answer be lost.
        let owner = try await store.database.write { db in
            let owner = MintedTokens.owner(sessionID: sessionID, sequence: try MintedTokens.nextSequence(sessionID: sessionID, in: db))
            try MintedTokens.recordMinting(
                owner: owner, sessionID: sessionID,
                intent: ["connection": connection.name, "project": project.name, "repository": project.repo, "server_kind": connection.kind.rawValue, "token_name": ask.name],
                in: db)
            return owner
        }
        let minted: SCMMintedToken
        var appVersion: Int64?
        do {
            switch connection.kind {
            case .githubEnterprise:
                (minted, appVersion) = try await mintOnGitHub(connection, ask, project: s.project, requestID: request.requestID)
            case .gitlab:
                let session = try await scmSession(connection.name, project: s.project, requestID: request.requestID)
                guard let adapter = session.adapter as? GitLabAdapter else { throw APIError.internalFault }
                do throws(SCMError) { minted = try await adapter.mintProjectAccessToken(ask, token: session.token) } catch { throw APIError.scm(error) }
            case .bitbucketServer:
                let session = try await scmSession(connection.name, project: s.project, requestID: request.requestID)
                guard let adapter = session.adapter as? BitbucketServerAdapter else { throw APIError.internalFault }
                do throws(SCMError) { minted = try await adapter.mintRepositoryAccessToken(ask, token: session.token) } catch { throw APIError.scm(error) }
            }
        } catch {
            let e = (error as? APIError) ?? APIError.internalFault
            // A refusal the server answered minted nothing; a lost answer (timeout, dropped
            // connection, 5xx) may have: that one is looked for by name and revoked.
            let answered = (400..<500).contains(e.code.status) || [RefusalCode.scmUnauthorized, .scmForbidden, .scmNotFound, .scmRejected, .scmRateLimited].contains(e.code)
            _ = try? await audit.append(
                AuditEntry(actor: actor, action: .repoTokenMint, target: mintTarget, outcome: .failed, reason: e.code.rawValue, requestID: request.requestID)
            ) { db in
                if answered { try MintedTokens.forget(owner: owner, in: db) } else { try MintedTokens.queueRevocation(owner: owner, in: db) }
            }
            if !answered { startSCMWork { await $0.workDueMintedRevocations() } }
            metrics.repoTokenMinted(kind: connection.kind, .failed)
            throw error
        }
        let attributes: [String: String] = [
            "session_id": sessionID, "connection": connection.name, "project": project.name, "repository": project.repo,
            "server_kind": connection.kind.rawValue, "server_token_id": minted.id, "expires_at": minted.expiresAt,
            "permissions": minted.permissions.joined(separator: ","),
        ].merging(appVersion.map { ["app_version": String($0)] } ?? [:]) { a, _ in a }
        let token = minted.token
        let keyRing = self.keyRing
        let note = "token id \(minted.id) for \(project.repo), permissions \(minted.permissions.joined(separator: ",")), expires \(minted.expiresAt)"
        do {
            try await audit.append(
                AuditEntry(actor: actor, action: .repoTokenMint, target: mintTarget, outcome: .granted, reason: note, requestID: request.requestID)
            ) { db in
                _ = try SecretVersions.add(kind: .mintedToken, owner: owner, grace: .zero, keyRing: keyRing, in: db) { _ in (token, attributes) }
                try MintedTokens.recordLive(owner: owner, in: db)
                // The session may have ended while the server minted: then it is revoked at once.
                let ended = try BuildSessionRecord.hasEnded(id: sessionID, in: db)
                if ended { try MintedTokens.queueRevocation(owner: owner, in: db) }
                if let previous { try MintedTokens.queueRevocation(owner: previous.owner, in: db) }
            }
        } catch let e as AuditError {
            // Nothing recorded: the token was never released; revoke it on the server now.
            logger.error("could not record a minted token; revoking it on the server", metadata: ["session": "\(sessionID)"])
            await revokeUnrecorded(minted, connection: connection, repository: project.repo)
            metrics.repoTokenMinted(kind: connection.kind, .failed)
            throw APIError.auditUnavailable(e)
        }
        metrics.repoTokenMinted(kind: connection.kind, .minted)
        if previous != nil || sessions.session(id: sessionID) == nil { startSCMWork { await $0.workDueMintedRevocations() } }
        logger.info("minted a repository token", metadata: ["session": "\(sessionID)", "repository": "\(project.repo)", "server-id": "\(minted.id)"])
        let refresh: ContinuousClock.Instant? = connection.kind == .githubEnterprise ? .now + Self.installationTokenRefresh : nil
        return MintedRepoToken(
            token: token, owner: owner, serverTokenID: minted.id, expiresAt: minted.expiresAt, permissions: minted.permissions,
            repository: project.repo, kind: connection.kind, refreshAt: refresh, appVersion: appVersion)
    }

    /// GitHub Enterprise: the App JWT (signed here with the active App key), the
    /// installation (pinned on the key, or looked up per repository and cached), the mint.
    private func mintOnGitHub(_ connection: Connection, _ ask: SCMTokenMintRequest, project: String, requestID: String?) async throws -> (SCMMintedToken, Int64) {
        let owner = Self.connectionOwner(connection.name)
        let (version, sealed) = try await store.database.read { db in
            guard let v = try SecretVersions.findActive(kind: .githubApp, owner: owner, in: db),
                let sealed = try SecretVersions.sealed(kind: .githubApp, owner: owner, version: v.version, in: db)
            else {
                throw APIError(.noGitHubApp, "connection '\(connection.name)' has no active GitHub App key; an admin runs `latchkey connection app put \(connection.name) --app-id N < key.pem`")
            }
            return (v, sealed)
        }
        let adapter = try scmAdapter(connection, project: project, requestID: requestID)
        guard let github = adapter as? GitHubEnterpriseAdapter else { throw APIError.internalFault }
        let appID = version.attributes["app_id"] ?? ""
        do throws(SCMError) {
            let key = try GitHubAppKey(pem: try openSealedSecret(sealed, for: version))
            let jwt = try key.appJWT(appID: appID)
            let cacheKey = "\(connection.name)\u{0}\(version.version)\u{0}\(ask.repository)"
            let installation: String
            if let pinned = version.attributes["installation_id"] {
                installation = pinned
            } else if let cached = installations.withLock({ $0[cacheKey] }) {
                installation = cached
            } else {
                installation = try await github.findInstallation(repository: ask.repository, jwt: jwt)
                installations.withLock { $0[cacheKey] = installation }
            }
            do {
                return (try await github.mintInstallationToken(installationID: installation, ask, jwt: jwt), version.version)
            } catch where error.code == .notFound {
                // The App was moved to another installation: look it up again next time.
                installations.withLock { _ = $0.removeValue(forKey: cacheKey) }
                throw error
            }
        } catch {
            throw APIError.scm(error)
        }
    }

    /// `openSealed` with its errors as `SCMError` (for the typed-throws SCM blocks).
    private func openSealedSecret(_ sealed: SealedSecret, for version: SecretVersion) throws(SCMError) -> SecretBytes {
        do { return try openSealed(sealed, for: version) } catch {
            throw SCMError(.configuration, "the GitHub App key v\(version.version) did not open")
        }
    }

    /// A connection's adapter with no token (the GitHub App authenticates per request).
    func scmAdapter(_ connection: Connection, project: String?, requestID: String?) throws -> any SCMServerAdapter {
        do throws(SCMError) {
            let client = try scmTransport(connection, project: project, requestID: requestID)
            return SCMAdapters.make(for: client)
        } catch {
            throw APIError.scm(error)
        }
    }

    /// A token minted whose record could not be written: revoked on the server at once.
    private func revokeUnrecorded(_ minted: SCMMintedToken, connection: Connection, repository: String) async {
        _ = try? await revokeOnServer(
            kind: connection.kind, connection: connection.name, repository: repository, serverID: minted.id, token: minted.token, project: nil)
    }

    /// One revocation on the server. Throws `APIError`s.
    private func revokeOnServer(
        kind: ConnectionKind, connection name: String, repository: String, serverID: String, token: SecretBytes, project: String?
    ) async throws {
        switch kind {
        case .githubEnterprise:
            let connection = try await store.database.read { db in try Connection.find(name, in: db).connection }
            guard let github = try scmAdapter(connection, project: project, requestID: nil) as? GitHubEnterpriseAdapter else { throw APIError.internalFault }
            do throws(SCMError) { try await github.revokeInstallationToken(token) } catch { throw APIError.scm(error) }
        case .gitlab:
            let session = try await scmSession(name, project: project, requestID: nil)
            guard let gitlab = session.adapter as? GitLabAdapter else { throw APIError.internalFault }
            do throws(SCMError) { try await gitlab.revokeProjectAccessToken(id: serverID, repository: repository, token: session.token) } catch {
                throw APIError.scm(error)
            }
        case .bitbucketServer:
            let session = try await scmSession(name, project: project, requestID: nil)
            guard let bitbucket = session.adapter as? BitbucketServerAdapter else { throw APIError.internalFault }
            do throws(SCMError) { try await bitbucket.revokeRepositoryAccessToken(id: serverID, repository: repository, token: session.token) } catch {
                throw APIError.scm(error)
            }
        }
    }

    /// Revokes the tokens named `name` on the repository (GitLab, Bitbucket: a mint whose
    /// answer was lost); how many there were. GitHub installation tokens have no name: 0.
    private func revokeByName(kind: ConnectionKind, connection: String, repository: String, name: String, project: String?) async throws -> Int {
        guard kind != .githubEnterprise else { return 0 }
        let session = try await scmSession(connection, project: project, requestID: nil)
        do throws(SCMError) {
            if let gitlab = session.adapter as? GitLabAdapter {
                let ids = try await gitlab.listProjectAccessTokens(repository: repository, token: session.token).filter { $0.name == name }.map(\.id)
                for id in ids { try await gitlab.revokeProjectAccessToken(id: id, repository: repository, token: session.token) }
                return ids.count
            }
            if let bitbucket = session.adapter as? BitbucketServerAdapter {
                let ids = try await bitbucket.listRepositoryAccessTokens(repository: repository, token: session.token).filter { $0.name == name }.map(\.id)
                for id in ids { try await bitbucket.revokeRepositoryAccessToken(id: id, repository: repository, token: session.token) }
                return ids.count
            }
        } catch {
            throw APIError.scm(error)
        }
        return 0
    }

    /// Tries every pending revocation that is due, once (the SCM work task; the daemon's
    /// start and stop). A failure pushes the next attempt back (30 s doubling, at most an
    /// hour); a token the server has expired already needs no call.
    func workDueMintedRevocations() async {
        let records: [MintedTokenRecord]
        do {
            records = try await store.database.read { db in try MintedTokens.dueRevocations(in: db) }
        } catch {
            logger.error("could not read the pending repository-token revocations: \(error)")
            return
        }
        for record in records {
            // Each record on its own: one whose binding fails (a store writer's edit) is
            // refused and retried later, and holds up no other.
            var version: SecretVersion?
            var sealed: SealedSecret?
            var bindingFailed = false
            do {
                (version, sealed) = try await store.database.read { db in
                    let v = try SecretVersions.list(kind: .mintedToken, owner: record.owner, in: db).first
                    return (v, try v.flatMap { try SecretVersions.sealed(kind: .mintedToken, owner: record.owner, version: $0.version, in: db) })
                }
            } catch {
                logger.error("the sealed record of minted token \(record.owner) was refused: \(error)")
                bindingFailed = true
            }
            if Task.isCancelled { return }
            let a = version?.attributes ?? record.intent
            let target = AuditTarget(connection: a["connection"], project: a["project"], kind: Grant.repoToken.rawValue)
            let actor = AuditEntry.Actor(role: .daemon, sessionID: record.sessionID)
            let serverID = a["server_token_id"] ?? "?"
            var failure: (code: String, message: String)?
            var how = "revoked"
            let recordKind = a["server_kind"].flatMap(ConnectionKind.init(rawValue:))
            if let version, let sealed, let kind = a["server_kind"].flatMap(ConnectionKind.init(rawValue:)), let connection = a["connection"],
                let repository = a["repository"]
            {
                if kind == .githubEnterprise, let exp = a["expires_at"].flatMap(Timestamp.init(parsing:)), exp <= .now() {
                    how = "expired"  // GitHub has let it lapse: nothing to call
                } else {
                    do {
                        let token = try openSealed(sealed, for: version)
                        try await revokeOnServer(
                            kind: kind, connection: connection, repository: repository, serverID: serverID, token: token, project: a["project"])
                        // A retried mint whose first answer was lost may have left a twin of the same name.
                        if kind != .githubEnterprise {
                            let name = Self.tokenName(sessionID: record.sessionID)
                            let twins = try await revokeByName(kind: kind, connection: connection, repository: repository, name: name, project: a["project"])
                            if twins > 0 { how = "revoked (and \(twins) more of its name)" }
                        }
                    } catch let e as APIError {
                        failure = (e.code.rawValue, e.message)
                    } catch {
                        failure = (RefusalCode.internalFault.rawValue, "\(error)")
                    }
                }
            } else if bindingFailed {
                failure = (RefusalCode.bindingFailed.rawValue, "the sealed record of \(record.owner) was changed outside Latchkey; it is not acted on")
            } else if version == nil, let kind = record.intent["server_kind"].flatMap(ConnectionKind.init(rawValue:)),
                let connection = record.intent["connection"], let repository = record.intent["repository"]
            {
                // The name comes from the session id, never from the (unbound) intent, so a
                // store writer can make Latchkey revoke only Latchkey's own session tokens.
                let name = Self.tokenName(sessionID: record.sessionID)
                // A mint whose answer was never recorded: found on the server by its name.
                do {
                    let found = try await revokeByName(kind: kind, connection: connection, repository: repository, name: name, project: record.intent["project"])
                    how = kind == .githubEnterprise ? "unrecorded (GitHub names no installation token; it expires within the hour)" : "unrecorded, \(found) found by name \(name)"
                } catch let e as APIError {
                    failure = (e.code.rawValue, e.message)
                } catch {
                    failure = (RefusalCode.internalFault.rawValue, "\(error)")
                }
            } else {
                // Nothing left to revoke with (destroyed, or the record is not what Latchkey wrote).
                failure = (RefusalCode.bindingFailed.rawValue, "the sealed record of \(record.owner) is missing or unreadable")
            }
            if Task.isCancelled, failure != nil { return }
            do {
                if let failure {
                    let wait = min(Self.removalBackoffCap, Self.removalBackoffBase * (1 << min(record.attempts, 16)))
                    let next = Timestamp.now().adding(seconds: max(1, wait.components.seconds))
                    logger.warning("could not revoke repository token \(serverID) on its server; retrying at \(next): \(failure.message)")
                    _ = try await audit.append(
                        AuditEntry(actor: actor, action: .repoTokenRevoke, target: target, outcome: .failed, reason: "\(failure.code): token id \(serverID)")
                    ) { db in try MintedTokens.markRevokeFailed(owner: record.owner, error: failure.message, nextAttempt: next, in: db) }
                    metrics.repoTokenRevoked(kind: recordKind, .failed)
                } else {
                    let owner = record.owner
                    _ = try await audit.append(
                        AuditEntry(actor: actor, action: .repoTokenRevoke, target: target, outcome: .granted, reason: "\(how): token id \(serverID)")
                    ) { db in try MintedTokens.markRevoked(owner: owner, in: db) }
                    metrics.repoTokenRevoked(kind: recordKind, how == "expired" ? .expired : .revoked)
                    logger.info("repository token \(how)", metadata: ["session": "\(record.sessionID)", "server-id": "\(serverID)"])
                }
            } catch {
                logger.error("could not record a repository-token revocation: \(error)")
            }
        }
    }

    /// At stop: a bounded try at the revocations just queued; what is left waits for the
    /// next start.
    func revokeBeforeStop() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.workDueMintedRevocations() }
            group.addTask { try? await Task.sleep(for: Self.revocationAtStop) }
            await group.next()
            group.cancelAll()
        }
    }

    /// `GET /v1/minted-tokens` (admin): live tokens and pending revocations (with
    /// `?all=1`, the revoked ones too).
    func listMintedTokens(_ op: inout Operation) async throws -> [MintedTokenInfo] {
        let all = try op.request.flag("all", yes: ["1", "true"], no: ["0", "false"])
        return try await op.read { db in
            try MintedTokens.list(states: all ? nil : [.minting, .live, .revoking], in: db).map { r in
                let a = try SecretVersions.list(kind: .mintedToken, owner: r.owner, in: db).first?.attributes ?? r.intent
                return MintedTokenInfo(
                    sessionId: r.sessionID, connection: a["connection"] ?? "", project: a["project"] ?? "", repository: a["repository"] ?? "",
                    serverTokenId: a["server_token_id"] ?? "", permissions: (a["permissions"] ?? "").split(separator: ",").map(String.init),
                    expiresAt: a["expires_at"] ?? "", state: r.state.rawValue, attempts: r.attempts, nextAttemptAt: r.nextAttemptAt?.description,
                    lastError: r.lastError, createdAt: r.createdAt.description)
            }
        }
    }
}
