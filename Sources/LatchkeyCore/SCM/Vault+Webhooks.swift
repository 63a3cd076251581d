import Foundation
import LatchkeyAPI
import LatchkeyAudit
import LatchkeyCrypto
import LatchkeyPolicy
import LatchkeySCM
import LatchkeyStore
import Synchronization

/// Webhooks Latchkey installs on the repositories, with secrets it keeps (issue #17).
///
/// The secret is 32 random bytes, given to the server as 64 lower-case hex characters
/// (the text every server signs with), sealed like a token as a `webhook-secret` version
/// of the project. The CI's webhook receiver never holds it: it forwards each delivery to
/// `POST /v1/projects/{name}/webhook/verify`, and the daemon checks the signature against
/// the active version and every version still in its grace.
///
/// Nothing is half done. The secret is sealed and the intent recorded (`scm_webhook`
/// `installing` / `updating` / `removing`) *before* the call to the server, and the
/// outcome recorded after it:
/// - A server that refuses (4xx) changed nothing: the intent is undone (a refused
///   rotation leaves the previous version active, as if it had not been asked).
/// - A call whose outcome is unknown (timeout, reset, 5xx) and a daemon that dies during
///   the call leave the intent in the store; `reconcileWebhook` finishes it — at once when
///   it can, else at the next start, the next `webhook` command for the project, or a
///   housekeeping pass (every 30 s while the server does not answer): an
///   install is looked for on the server by its URL (an install refuses a URL the
///   repository already has, so a hook with it is Latchkey's) and adopted, or forgotten
///   when the server has none; an update is sent again (setting a secret is idempotent);
///   a removal is sent again (404 counts as removed). So no hook is left on a server
///   unrecorded, and no recorded hook holds a secret Latchkey does not have.
///
/// What runs where: the handlers and the reconciliation are async, on request tasks and
/// the SCM work task; one change per project's hook at a time (`webhookChanges`, a lock
/// held only to mark and unmark, never across a suspension), so housekeeping never
/// reconciles a hook whose call is in flight; the intent transactions check the row's
/// state again as well.
extension Vault {
    /// Random bytes in a webhook secret.
    static let webhookSecretBytes = 32
    /// The largest delivery `webhook/verify` takes (deliveries with big pushes are large).
    package static let webhookDeliveryMaxBytes = 1 << 20
    /// While the server has not confirmed a rotation's new secret, the previous one stays
    /// valid at least this long (so a refused rotation can put it back in force).
    static let webhookRotationMinimumGrace: Duration = .seconds(600)

    /// The projects whose webhook a request or the daemon is changing now (per vault): one
    /// change at a time, so housekeeping never reconciles a hook whose call is in flight.
    private static let webhookChanges = Mutex<Set<String>>([])

    /// Marks `project`'s webhook as being changed, or nil when a change is under way.
    private func beginWebhookChange(_ project: String) -> String? {
        let key = "\(ObjectIdentifier(self).hashValue):\(project)"
        return Self.webhookChanges.withLock { $0.insert(key).inserted } ? key : nil
    }

    private func endWebhookChange(_ key: String) { _ = Self.webhookChanges.withLock { $0.remove(key) } }

    /// `beginWebhookChange`, refused with a conflict when another change is under way.
    private func webhookChange(_ project: String) throws -> String {
        guard let key = beginWebhookChange(project) else {
            throw APIError(.conflict, "another change to the webhook of '\(Names.printable(project))' is under way; try again once it is done")
        }
        return key
    }

    /// 32 random bytes as 64 lower-case hex characters, in guarded memory.
    static func newWebhookSecret() throws -> SecretBytes {
        let raw = try SecretBytes.random(count: webhookSecretBytes)
        let digits = Array("0123456789abcdef".utf8)
        return try SecretBytes(count: 2 * webhookSecretBytes) { out in
            raw.withUnsafeBytes { r in
                for (i, b) in r.enumerated() {
                    out[2 * i] = digits[Int(b >> 4)]
                    out[2 * i + 1] = digits[Int(b & 0x0F)]
                }
            }
        }
    }

    private static func owner(_ project: String) -> String { Project.owner(project) }

    // MARK: Reading

    func webhookInfo(_ r: SCMWebhookRecord, state: String? = nil, in db: StoreDB) throws -> WebhookInfo {
        let versions = try SecretVersions.list(kind: .webhookSecret, owner: Self.owner(r.project), in: db)
        return WebhookInfo(
            project: r.project, connection: r.connection, repository: r.repo, url: r.url, events: r.events, state: state ?? r.state.rawValue,
            serverHookId: r.serverHookID, activeVersion: versions.last { $0.state == .active }?.version,
            versions: versions.map {
                WebhookSecretVersionInfo(version: $0.version, state: $0.state.rawValue, retireAt: $0.retireAt?.description, createdAt: $0.createdAt.description)
            },
            lastError: r.lastError, createdAt: r.createdAt.description)
    }

    /// `GET /v1/webhooks`: every project's webhook.
    func listWebhooks(_ op: inout Operation) async throws -> [WebhookInfo] {
        op.target = AuditTarget(kind: SecretKind.webhookSecret.rawValue)
        return try await op.read { db in try SCMWebhooks.list(in: db).map { try self.webhookInfo($0, in: db) } }
    }

    /// `GET /v1/projects/{name}/webhook`.
    func showWebhook(_ op: inout Operation) async throws -> WebhookInfo {
        let name = op.request.parameters["name"] ?? ""
        op.target = AuditTarget(project: name, kind: SecretKind.webhookSecret.rawValue)
        return try await op.read { db in
            _ = try Project.find(name, in: db)
            guard let r = try SCMWebhooks.find(project: name, in: db) else { throw Self.noWebhook(name) }
            return try self.webhookInfo(r, in: db)
        }
    }

    static func noWebhook(_ project: String) -> APIError {
        APIError(.noWebhook, "project '\(Names.printable(project))' has no webhook installed by Latchkey; install one with `latchkey webhook install \(Names.printable(project)) --url URL`")
    }

    // MARK: Install

    /// `POST /v1/projects/{name}/webhook`: a new secret, sealed, then the hook created on
    /// the repository with it, then the server's id recorded.
    func installWebhook(_ op: inout Operation, _ body: WebhookInstallRequest) async throws -> WebhookInfo {
        let name = op.request.parameters["name"] ?? ""
        op.target = AuditTarget(project: name, kind: SecretKind.webhookSecret.rawValue)
        let hook = SCMWebhook(url: body.url, events: body.events ?? SCMWebhook.defaultEvents)
        let change = try webhookChange(name)
        defer { endWebhookChange(change) }
        let (project, found) = try await store.database.read { db in
            (try Project.find(name, in: db).project, try SCMWebhooks.find(project: name, in: db))
        }
        var existing = found
        op.target.connection = project.connection
        if let r = existing, r.state == .installing {
            // An install a crash (or an unknown outcome) cut short: finished first.
            existing = try await reconcileWebhook(r, requestID: op.request.requestID)
        }
        if let r = existing {
            throw APIError(
                .webhookExists,
                "project '\(name)' already has a webhook on \(r.repo) (\(r.state.rawValue)\(r.serverHookID.map { ", server id \($0)" } ?? "")) delivering to \(r.url); rotate its secret with `latchkey webhook rotate \(name)`, or remove it first with `latchkey webhook remove \(name)`")
        }
        let session = try await scmSession(project.connection, project: name, requestID: op.request.requestID)
        // One hook per URL: then a hook with this URL found after a crash is Latchkey's.
        let onServer: [SCMInstalledWebhook]
        do throws(SCMError) {
            onServer = try await session.adapter.listWebhooks(repository: project.repo, token: session.token)
        } catch {
            throw APIError.scm(error)
        }
        if let same = onServer.first(where: { $0.url == hook.url }) {
            throw APIError(
                .webhookExists,
                "\(Self.scmConnection(session.connection).kind.displayName) \(project.connection) already has a webhook delivering to \(hook.url) on \(project.repo) (server id \(same.id)), not installed by Latchkey; remove it there, or give another --url")
        }
        let secret = try Self.newWebhookSecret()
        let intent = SCMWebhookRecord(
            project: name, connection: project.connection, repo: project.repo, url: hook.url, events: hook.events, state: .installing,
            serverHookID: nil, pendingVersion: nil, lastError: nil, createdAt: .now(), updatedAt: .now())
        let version = try await store.database.write { [keyRing] db in
            let (projectID, _) = try Project.find(name, in: db)
            guard try SCMWebhooks.find(project: name, in: db) == nil else {
                throw StoreError.conflict(what: "project '\(name)' already has a webhook")
            }
            let v = try SecretVersions.add(kind: .webhookSecret, owner: Self.owner(name), projectID: projectID, grace: .zero, keyRing: keyRing, in: db) { _ in
                (secret, [:])
            }
            try SCMWebhooks.save(intent, in: db)
            return v.version
        }
        op.target.version = version
        let id: String
        do throws(SCMError) {
            id = try await session.adapter.installWebhook(hook, repository: project.repo, secret: secret, token: session.token)
        } catch {
            guard error.isTransient else {
                // Refused: nothing on the server, nothing kept.
                try await store.database.write { db in try Self.forgetWebhook(name, in: db) }
                throw APIError.scm(error)
            }
            // The server may have created it: look, and adopt or forget it.
            try? await store.database.write { db in try SCMWebhooks.noteError(project: name, error.message, in: db) }
            let found: SCMWebhookRecord??
            do { found = .some(try await reconcileWebhook(intent, requestID: op.request.requestID)) } catch { found = nil }
            switch found {
            case .some(.some(let adopted)) where adopted.state == .installed:
                return try await op.change { db in try self.webhookInfo(adopted, in: db) }
            case .some:
                throw APIError.scm(error)  // it never reached the server; forgotten
            case .none:
                throw APIError(
                    APIError.scm(error).code,
                    error.message + "; whether the server created the hook is not known yet: Latchkey looks for it (by its URL) at the next `webhook` command for \(name) and at its next start")
            }
        }
        return try await op.change { db in
            var r = intent
            r.state = .installed
            r.serverHookID = id
            try SCMWebhooks.save(r, in: db)
            return try self.webhookInfo(r, in: db)
        }
    }

    /// The project's hook record goes, and every version of its secret is destroyed.
    static func forgetWebhook(_ project: String, in db: StoreDB) throws {
        try SCMWebhooks.delete(project: project, in: db)
        try SecretVersions.revoke(kind: .webhookSecret, owner: owner(project), version: nil, in: db)
    }

    // MARK: Rotate

    /// `POST /v1/projects/{name}/webhook/rotate`: version N+1 sealed, set on the server by
    /// its update call, then recorded; N keeps verifying for the grace.
    func rotateWebhook(_ op: inout Operation, _ body: WebhookRotateRequest) async throws -> WebhookInfo {
        let name = op.request.parameters["name"] ?? ""
        op.target = AuditTarget(project: name, kind: SecretKind.webhookSecret.rawValue)
        let graceSeconds = body.graceSeconds ?? Self.defaultGrace.components.seconds
        guard (0...Self.maxGraceSeconds).contains(graceSeconds) else { throw APIError.invalid("grace must be between 0 s and 30 days") }
        let change = try webhookChange(name)
        defer { endWebhookChange(change) }
        var record = try await store.database.read { db in
            _ = try Project.find(name, in: db)
            return try SCMWebhooks.find(project: name, in: db)
        }
        if let r = record, r.state != .installed { record = try await reconcileWebhook(r, requestID: op.request.requestID) }
        guard let r = record else { throw Self.noWebhook(name) }
        op.target.connection = r.connection
        guard r.state == .installed, let hookID = r.serverHookID else {
            throw APIError(
                .conflict,
                "the webhook of '\(name)' is \(r.state.rawValue)\(r.lastError.map { " (last error: \($0.prefix(200)))" } ?? ""); Latchkey finishes that first — try again once the server answers")
        }
        let session = try await scmSession(r.connection, project: name, requestID: op.request.requestID)
        let secret = try Self.newWebhookSecret()
        // The previous version stays valid at least until the server confirmed the new one.
        let provisional = max(graceSeconds, Self.webhookRotationMinimumGrace.components.seconds)
        let (version, previous) = try await store.database.write { [keyRing] db in
            let (projectID, _) = try Project.find(name, in: db)
            // One change at a time: another rotation or a removal may have begun since the read.
            guard try SCMWebhooks.find(project: name, in: db)?.state == .installed else {
                throw StoreError.conflict(what: "another change to the webhook of '\(name)' is under way; try again once it is done")
            }
            let previous = try SecretVersions.findActive(kind: .webhookSecret, owner: Self.owner(name), in: db)?.version
            let v = try SecretVersions.add(
                kind: .webhookSecret, owner: Self.owner(name), projectID: projectID, grace: .seconds(provisional), keyRing: keyRing, in: db
            ) { _ in (secret, [:]) }
            var updating = r
            updating.state = .updating
            updating.pendingVersion = v.version
            try SCMWebhooks.save(updating, in: db)
            return (v.version, previous)
        }
        op.target.version = version
        let hook = SCMWebhook(url: r.url, events: r.events)
        do throws(SCMError) {
            try await session.adapter.updateWebhook(id: hookID, hook, repository: r.repo, secret: secret, token: session.token)
        } catch {
            if error.isTransient {
                // The server may hold the new secret: both verify (the grace) until the
                // update is sent again and succeeds.
                try? await store.database.write { db in try SCMWebhooks.noteError(project: name, error.message, in: db) }
                throw APIError(
                    APIError.scm(error).code,
                    error.message + "; the server may hold the new secret already: v\(version) and the previous one both verify until Latchkey sets it again (the next `webhook rotate \(name)`, or its next start)")
            } else {
                // Refused: nothing changed on the server; neither here.
                try await store.database.write { db in
                    try SecretVersions.revoke(kind: .webhookSecret, owner: Self.owner(name), version: version, in: db)
                    if let previous { try SecretVersions.reinstate(kind: .webhookSecret, owner: Self.owner(name), version: previous, in: db) }
                    try SCMWebhooks.save(r, in: db)
                    try SCMWebhooks.noteError(project: name, error.message, in: db)
                }
            }
            throw APIError.scm(error)
        }
        return try await op.change { db in
            if let previous, provisional != graceSeconds {
                try SecretVersions.endGrace(
                    kind: .webhookSecret, owner: Self.owner(name), version: previous, at: Timestamp.now().adding(seconds: graceSeconds), in: db)
            }
            var done = r
            done.lastError = nil
            try SCMWebhooks.save(done, in: db)
            return try self.webhookInfo(done, in: db)
        }
    }

    // MARK: Remove

    /// `DELETE /v1/projects/{name}/webhook`: the hook deleted on the server, then its
    /// record and every version of its secret.
    func removeWebhook(_ op: inout Operation) async throws -> WebhookInfo {
        let name = op.request.parameters["name"] ?? ""
        op.target = AuditTarget(project: name, kind: SecretKind.webhookSecret.rawValue)
        let change = try webhookChange(name)
        defer { endWebhookChange(change) }
        var record = try await store.database.read { db in
            _ = try Project.find(name, in: db)
            return try SCMWebhooks.find(project: name, in: db)
        }
        if let r = record, r.state == .installing { record = try await reconcileWebhook(r, requestID: op.request.requestID) }
        guard let r = record, let hookID = r.serverHookID else { throw Self.noWebhook(name) }
        op.target.connection = r.connection
        let session = try await scmSession(r.connection, project: name, requestID: op.request.requestID)
        var removing = r
        removing.state = .removing
        removing.pendingVersion = nil
        let marked = removing
        try await store.database.write { db in
            guard let current = try SCMWebhooks.find(project: name, in: db), current.serverHookID == hookID, current.state != .installing else {
                throw StoreError.conflict(what: "another change to the webhook of '\(name)' is under way; try again once it is done")
            }
            try SCMWebhooks.save(marked, in: db)
        }
        do throws(SCMError) {
            try await session.adapter.removeWebhook(id: hookID, repository: r.repo, token: session.token)
        } catch {
            try? await store.database.write { db in try SCMWebhooks.noteError(project: name, error.message, in: db) }
            throw APIError(
                APIError.scm(error).code,
                error.message + "; the removal stays pending: `latchkey webhook remove \(name)` tries again, and so does the daemon at its next start")
        }
        return try await op.change { db in
            let info = try self.webhookInfo(marked, state: "removed", in: db)
            try Self.forgetWebhook(name, in: db)
            var gone = info
            gone.versions = try SecretVersions.list(kind: .webhookSecret, owner: Self.owner(name), in: db).map {
                WebhookSecretVersionInfo(version: $0.version, state: $0.state.rawValue, retireAt: $0.retireAt?.description, createdAt: $0.createdAt.description)
            }
            gone.activeVersion = nil
            return gone
        }
    }

    // MARK: Reconciliation

    /// At start: finishes every install, rotation and removal a crash or an unanswered call
    /// cut short. With `dueOnly` (each housekeeping pass) only those whose last try is at
    /// least the SCM retry wait ago (30 s; `LATCHKEY_SCM_REMOVAL_BACKOFF`), so a server that
    /// is down is not asked every pass.
    func reconcileWebhooks(dueOnly: Bool = false) async {
        let due = Timestamp.now().adding(seconds: -max(1, Self.removalBackoffBase.components.seconds))
        let pending = (try? await store.database.read { db in
            try SCMWebhooks.list(in: db).filter { $0.state != .installed && (!dueOnly || $0.updatedAt <= due) }
        }) ?? []
        for r in pending {
            guard let change = beginWebhookChange(r.project) else { continue }  // a request is at it
            defer { endWebhookChange(change) }
            do {
                // Read again under the mark: the request that held it may have finished it.
                guard let current = try await store.database.read({ db in try SCMWebhooks.find(project: r.project, in: db) }),
                    current.state != .installed
                else { continue }
                _ = try await reconcileWebhook(current, requestID: nil)
            } catch {
                logger.warning("could not finish the \(r.state.rawValue) webhook of \(r.project) on its server (tried again at the next start): \(error)")
            }
        }
    }

    /// Finishes what `r`'s state says was under way; the record as it is after (nil: the
    /// project has no hook any more). Throws when the server cannot be asked (the record
    /// stays as it was, with the error noted).
    @discardableResult
    func reconcileWebhook(_ r: SCMWebhookRecord, requestID: String?) async throws -> SCMWebhookRecord? {
        let target = AuditEntry.Target(connection: r.connection, project: r.project, kind: SecretKind.webhookSecret.rawValue, version: r.pendingVersion)
        let session = try await scmSession(r.connection, project: r.project, requestID: requestID)
        let hook = SCMWebhook(url: r.url, events: r.events)
        do {
            switch r.state {
            case .installed:
                return r
            case .installing:
                let found = try await session.adapter.listWebhooks(repository: r.repo, token: session.token).first { $0.url == r.url }
                guard let found else {
                    _ = try await audit.append(
                        AuditEntry(actor: .init(role: .daemon), action: .webhookInstall, target: target, outcome: .failed, reason: "not_on_server")
                    ) { db in try Self.forgetWebhook(r.project, in: db) }
                    logger.notice("the interrupted webhook install of \(r.project) never reached \(r.repo); forgotten")
                    return nil
                }
                // Adopted: its secret set again to the active version's (what the install sent).
                let (secret, version) = try await activeWebhookSecret(r.project)
                try await session.adapter.updateWebhook(id: found.id, hook, repository: r.repo, secret: secret, token: session.token)
                var done = r
                done.state = .installed
                done.serverHookID = found.id
                done.lastError = nil
                let adopted = done
                _ = try await audit.append(
                    AuditEntry(
                        actor: .init(role: .daemon), action: .webhookInstall,
                        target: .init(connection: r.connection, project: r.project, kind: SecretKind.webhookSecret.rawValue, version: version),
                        outcome: .granted, reason: "reconciled")
                ) { db in try SCMWebhooks.save(adopted, in: db) }
                logger.notice("adopted webhook \(found.id) on \(r.repo): installed by a call whose answer was lost")
                return done
            case .updating:
                guard let id = r.serverHookID else { return r }
                let (secret, _) = try await activeWebhookSecret(r.project)
                try await session.adapter.updateWebhook(id: id, hook, repository: r.repo, secret: secret, token: session.token)
                var done = r
                done.state = .installed
                done.pendingVersion = nil
                done.lastError = nil
                let updated = done
                _ = try await audit.append(
                    AuditEntry(actor: .init(role: .daemon), action: .webhookRotate, target: target, outcome: .granted, reason: "reconciled")
                ) { db in try SCMWebhooks.save(updated, in: db) }
                logger.notice("set the webhook secret of \(r.project) on \(r.repo) again: the rotation's answer was lost")
                return done
            case .removing:
                if let id = r.serverHookID { try await session.adapter.removeWebhook(id: id, repository: r.repo, token: session.token) }
                _ = try await audit.append(
                    AuditEntry(actor: .init(role: .daemon), action: .webhookRemove, target: target, outcome: .granted, reason: "reconciled")
                ) { db in try Self.forgetWebhook(r.project, in: db) }
                logger.notice("removed the webhook of \(r.project) from \(r.repo): its removal was pending")
                return nil
            }
        } catch let error as SCMError {
            try? await store.database.write { db in try SCMWebhooks.noteError(project: r.project, error.message, in: db) }
            throw APIError.scm(error)
        }
    }

    /// The active version's secret, opened.
    private func activeWebhookSecret(_ project: String) async throws -> (SecretBytes, Int64) {
        let (version, sealed) = try await store.database.read { db in
            let v = try SecretVersions.find(kind: .webhookSecret, owner: Self.owner(project), version: nil, in: db)
            return (v, try SecretVersions.sealed(kind: .webhookSecret, owner: v.owner, version: v.version, in: db))
        }
        guard let sealed else { throw APIError(.secretRevoked, "the webhook secret of '\(project)' is revoked") }
        return (try openSealed(sealed, for: version), version.version)
    }

    // MARK: Verify

    /// `POST /v1/projects/{name}/webhook/verify`: the receiver's forwarded delivery (raw
    /// body, the server's signature header as is) checked in constant time against the
    /// active version and every version in its grace. Every answer is audited.
    func verifyWebhookDelivery(_ op: inout Operation) async throws -> WebhookVerifyResult {
        let name = op.request.parameters["name"] ?? ""
        op.target = AuditTarget(project: name, kind: SecretKind.webhookSecret.rawValue)
        let peer = identity(op.request)
        guard policy.webhookReceiverRule(for: peer, project: name) != nil else {
            throw APIError(
                .notWebhookReceiver,
                "uid \(op.request.peer.uid) is not a webhook receiver for project '\(Names.printable(name))' in the policy; ask an admin to name it under webhook_receivers in \(policiesDirectory)/")
        }
        let (kind, connection, versions) = try await store.database.read { db in
            let p = try Project.find(name, in: db).project
            let (_, c) = try Connection.find(p.connection, in: db)
            guard try SCMWebhooks.find(project: name, in: db) != nil else { throw Self.noWebhook(name) }
            let usable = try SecretVersions.list(kind: .webhookSecret, owner: Self.owner(name), in: db).filter { $0.isUsable(at: .now()) }
            let sealed = try usable.compactMap { v in try SecretVersions.sealed(kind: .webhookSecret, owner: v.owner, version: v.version, in: db).map { (v, $0) } }
            return (c.kind, c.name, sealed)
        }
        op.target.connection = connection
        let secrets = try versions.map { (version: $0.0.version, secret: try openSealed($0.1, for: $0.0)) }
        let serverKind = SCMServerKind(rawValue: kind.rawValue) ?? .githubEnterprise
        let headers = op.request.headers
        let result = op.request.body.withUnsafeReadableBytes { body in
            WebhookSignature.verify(kind: serverKind, headers: headers, body: body, secrets: secrets)
        }
        switch result {
        case .success(let version):
            op.target.version = version
            try await op.record(.granted)
            return WebhookVerifyResult(valid: true, version: version)
        case .failure(let failure):
            let header = WebhookSignature.headerName(for: serverKind)
            let why: String =
                switch failure {
                case .missingHeader: "the delivery has no \(header) header; copy the server's \(header) header as it came"
                case .malformed(let detail): "\(detail); copy the server's \(header) header as it came"
                case .mismatch: "no active or grace version of the webhook secret of '\(name)' signed this body; it is forged, altered, or signed with a secret whose grace has ended"
                }
            throw APIError(.badSignature, why)
        }
    }
}
