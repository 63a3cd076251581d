import Foundation
import LatchkeyAPI
import LatchkeyAudit
import LatchkeySCM
import LatchkeyStore

/// Deploy keys Latchkey installs on the repositories itself (`project add|set
/// --install-deploy-key`). Nothing is half done:
/// - A new version is installed on the server first; only then are the version and the
///   server's key id written, in one transaction. A failed install stores nothing (the
///   previous key stays active and released); a crash between the server's answer and
///   that transaction leaves a `latchkey:PROJECT:vN` key on the server that no record
///   names, which the reconciliation at start removes.
/// - A version revoked, or whose grace ended, is queued for removal (`removing`) in the
///   same transaction that revokes it; housekeeping works the queue, each failure pushing
///   the next attempt back (30 s doubling, at most an hour), and the queue is in the store,
///   so it survives a restart. `deploy-key list` shows each version's state.
extension Vault {
    /// `LATCHKEY_SCM_REMOVAL_BACKOFF` (seconds) overrides the first wait (tests use 1).
    static let removalBackoffBase: Duration = {
        if let v = ProcessInfo.processInfo.environment["LATCHKEY_SCM_REMOVAL_BACKOFF"].flatMap(Double.init), v > 0 { return .milliseconds(Int64(v * 1000)) }
        return .seconds(30)
    }()
    static let removalBackoffCap: Duration = .seconds(3600)

    static func deployKeyTitle(project: String, version: Int64) -> String { "latchkey:\(project):v\(version)" }

    /// The version a `latchkey:PROJECT:vN` title names, or nil.
    static func versionInTitle(_ title: String, project: String) -> Int64? {
        let prefix = "latchkey:\(project):v"
        guard title.hasPrefix(prefix) else { return nil }
        return Int64(title.dropFirst(prefix.count))
    }

    /// Installs `publicKey` as version `version` of the project's key; the server's id.
    func installOnServer(_ project: Project, version: Int64, publicKey: String, requestID: String?) async throws -> String {
        let session = try await scmSession(project.connection, project: project.name, requestID: requestID)
        let key = SCMDeployKey(title: Self.deployKeyTitle(project: project.name, version: version), publicKey: publicKey, write: project.deployKeyWrite)
        do throws(SCMError) {
            return try await session.adapter.installDeployKey(key, repository: project.repo, token: session.token).id
        } catch {
            throw APIError.scm(error)
        }
    }

    /// Tries every removal that is due, once.
    func workDueRemovals(requestID: String? = nil) async {
        let due: [SCMDeployKeyRecord]
        do {
            let (ready, refused) = try await store.database.read { db in try SCMDeployKeys.dueRemovals(in: db) }
            due = ready
            await reportBindingFailures(refused, action: .deployKeyUninstall, target: .init(kind: SecretKind.deployKey.rawValue), requestID: requestID)
        } catch {
            logger.error("could not read the pending deploy-key removals: \(error)")
            return
        }
        for r in due {
            var failure: (code: String, message: String)?
            do {
                let session = try await scmSession(r.connection, project: r.project, requestID: requestID)
                do throws(SCMError) {
                    try await session.adapter.removeDeployKey(id: r.serverKeyID, repository: r.repo, token: session.token)
                } catch {
                    failure = (APIError.scm(error).code.rawValue, error.message)
                }
            } catch let e as APIError {
                failure = (e.code.rawValue, e.message)
            } catch {
                failure = ("internal", "\(error)")
            }
            let target = AuditEntry.Target(connection: r.connection, project: r.project, kind: SecretKind.deployKey.rawValue, version: r.version)
            do {
                if let failure {
                    let wait = min(Self.removalBackoffCap, Self.removalBackoffBase * (1 << min(r.attempts, 16)))
                    let next = Timestamp.now().adding(seconds: max(1, wait.components.seconds))
                    logger.warning(
                        "could not remove deploy key v\(r.version) of \(r.project) from its server; retrying at \(next): \(failure.message)")
                    _ = try await audit.append(
                        AuditEntry(actor: .init(role: .daemon), action: .deployKeyUninstall, target: target, outcome: .failed, reason: failure.code)
                    ) { db in try SCMDeployKeys.markRemoveFailed(project: r.project, version: r.version, error: failure.message, nextAttempt: next, in: db) }
                } else {
                    _ = try await audit.append(
                        AuditEntry(actor: .init(role: .daemon), action: .deployKeyUninstall, target: target, outcome: .granted, reason: "removed")
                    ) { db in try SCMDeployKeys.markRemoved(project: r.project, version: r.version, in: db) }
                    logger.info("removed deploy key v\(r.version) of \(r.project) from \(r.repo)")
                }
            } catch {
                logger.error("could not record a deploy-key removal: \(error)")
            }
        }
    }

    /// At start: the server and the store agree on every installed key. A
    /// `latchkey:PROJECT:vN` key on the server that no record names, of a version never
    /// stored (a crash between the install and its record), is removed; one of a stored
    /// version with no record is left in place and logged; a live version recorded as
    /// installed that the server no longer has is installed again.
    func reconcileInstalledKeys() async {
        let projects = (try? await store.database.read { db in try Project.all(in: db).filter(\.installDeployKey) }) ?? []
        for p in projects {
            do {
                let session = try await scmSession(p.connection, project: p.name, requestID: nil)
                let onServer: [SCMInstalledKey]
                do throws(SCMError) {
                    onServer = try await session.adapter.listDeployKeys(repository: p.repo, token: session.token)
                } catch {
                    throw APIError.scm(error)
                }
                let (records, versions) = try await store.database.read { db in
                    (try SCMDeployKeys.list(project: p.name, in: db), try SecretVersions.list(kind: .deployKey, owner: p.owner, in: db))
                }
                let known = Set(records.filter { $0.state != .removed }.map(\.serverKeyID))
                let recorded = Set(records.map(\.version))
                let stored = Set(versions.map(\.version))
                for key in onServer {
                    guard let v = Self.versionInTitle(key.title, project: p.name), !known.contains(key.id) else { continue }
                    // A crash between install and record leaves a key whose version was never
                    // stored (the version and its record are one transaction). A stored version
                    // with no record at all was installed by hand, or its record was deleted
                    // outside Latchkey (a row's absence has no MAC to fail): left in place.
                    if stored.contains(v) && !recorded.contains(v) {
                        logger.warning(
                            "deploy key \(key.title) (server id \(key.id)) on \(p.repo) has no install record in the store; left in place (installed by hand, or its record was removed outside Latchkey)")
                        continue
                    }
                    do throws(SCMError) {
                        try await session.adapter.removeDeployKey(id: key.id, repository: p.repo, token: session.token)
                    } catch {
                        logger.error("could not remove the unrecorded deploy key \(key.title) from \(p.repo): \(error.message)")
                        continue
                    }
                    _ = try await audit.append(
                        AuditEntry(
                            actor: .init(role: .daemon), action: .deployKeyUninstall,
                            target: .init(connection: p.connection, project: p.name, kind: SecretKind.deployKey.rawValue, version: v),
                            outcome: .granted, reason: "unrecorded"))
                    logger.notice("removed \(key.title) from \(p.repo): installed by a run that died before recording it")
                }
                let serverIDs = Set(onServer.map(\.id))
                for r in records where r.state == .installed && !serverIDs.contains(r.serverKeyID) {
                    guard let v = versions.first(where: { $0.version == r.version }), v.isUsable(at: .now()), let line = v.attributes["public_key"] else { continue }
                    let id = try await installOnServer(p, version: r.version, publicKey: line, requestID: nil)
                    _ = try await audit.append(
                        AuditEntry(
                            actor: .init(role: .daemon), action: .deployKeyInstall,
                            target: .init(connection: p.connection, project: p.name, kind: SecretKind.deployKey.rawValue, version: r.version),
                            outcome: .granted, reason: "reinstalled")
                    ) { db in try SCMDeployKeys.recordInstalled(project: p.name, version: r.version, repo: p.repo, connection: p.connection, serverKeyID: id, in: db) }
                    logger.notice("installed deploy key v\(r.version) of \(p.name) again: the server no longer had it")
                }
            } catch let e as StoreError {
                if case .bindingFailed = e {
                    await reportBindingFailures(
                        [e], action: .deployKeyInstall, target: .init(connection: p.connection, project: p.name, kind: SecretKind.deployKey.rawValue))
                } else {
                    logger.warning("could not reconcile the deploy keys of \(p.name) with its server (tried again at the next start): \(e)")
                }
            } catch {
                logger.warning("could not reconcile the deploy keys of \(p.name) with its server (tried again at the next start): \(error)")
            }
        }
    }

    /// `POST /v1/projects/{name}/deploy-keys/install`: installs a live version (default:
    /// the active one) that is not on the server.
    func installDeployKeyByHand(_ op: inout Operation, _ body: RevokeRequest) async throws -> DeployKeyInfo {
        let name = op.request.parameters["name"] ?? ""
        op.target = AuditTarget(project: name, kind: SecretKind.deployKey.rawValue, version: body.version)
        let (project, version, record) = try await store.database.read { db in
            let p = try Project.find(name, in: db).project
            let v = try SecretVersions.find(kind: .deployKey, owner: p.owner, version: body.version, in: db)
            return (p, v, try SCMDeployKeys.find(project: name, version: v.version, in: db))
        }
        op.target = AuditTarget(connection: project.connection, project: name, kind: SecretKind.deployKey.rawValue, version: version.version)
        guard version.isUsable(at: .now()) else { throw APIError(.secretRevoked, "deploy key v\(version.version) of \(name) is revoked; it is not installed again") }
        if let record, record.state == .installed {
            throw APIError(.conflict, "deploy key v\(version.version) of \(name) is already installed on \(project.repo) (server id \(record.serverKeyID))")
        }
        let id = try await installOnServer(project, version: version.version, publicKey: version.attributes["public_key"] ?? "", requestID: op.request.requestID)
        let installs = try await op.change { db in
            try SCMDeployKeys.recordInstalled(
                project: name, version: version.version, repo: project.repo, connection: project.connection, serverKeyID: id, in: db)
            return try SCMDeployKeys.list(project: name, in: db)
        }
        return deployKeyInfo(version, project: name, installs: installs)
    }

    /// `POST /v1/projects/{name}/deploy-keys/uninstall`: removes a version (default: the
    /// active one) from the server now; a failure leaves it queued for housekeeping.
    func uninstallDeployKeyByHand(_ op: inout Operation, _ body: RevokeRequest) async throws -> DeployKeyInfo {
        let name = op.request.parameters["name"] ?? ""
        op.target = AuditTarget(project: name, kind: SecretKind.deployKey.rawValue, version: body.version)
        let version = try await op.change { db in
            let p = try Project.find(name, in: db).project
            let v = try SecretVersions.find(kind: .deployKey, owner: p.owner, version: body.version, in: db)
            let (queued, refused) = try SCMDeployKeys.markRemoving(project: name, versions: [v.version], in: db)
            if let failure = refused.first { throw failure }
            guard queued == 1 else {
                throw StoreError.conflict(what: "deploy key v\(v.version) of \(name) is not installed on its server")
            }
            return v
        }
        await workDueRemovals(requestID: op.request.requestID)
        let installs = try await store.database.read { db in try SCMDeployKeys.list(project: name, in: db) }
        return deployKeyInfo(version, project: name, installs: installs)
    }
}
