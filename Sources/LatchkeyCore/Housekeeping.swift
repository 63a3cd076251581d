import CSystemShims
package import LatchkeyAudit
package import LatchkeyStore
import Foundation

extension Vault {
    static let housekeepingInterval: Duration = .seconds(5)
    static let expiryWarningInterval: Duration = .seconds(86_400)
    /// The daily re-verification of tokens, as SCM work (Vault+TokenVerification.swift).
    static let reverification: @Sendable (Vault) async -> Void = { vault in await vault.reverifyDueTokens() }
    /// How often housekeeping looks for tokens due for re-verification (at most).
    static let tokenVerificationLook: Duration = .seconds(60)

    /// Every few seconds: end sessions past their TTL, retire versions whose grace
    /// ended, return freed memory to the system; once a day: warn about tokens within 7 days
    /// of expiry, and re-verify each active token with its server (`tokenVerificationInterval`).
    func startHousekeeping() {
        let task = Task { [self] in
            // The SCM servers and the store agree on installed deploy keys (a crash may have
            // come between an install and its record); then pending removals are worked.
            startSCMWork { vault in
                await vault.reconcileInstalledKeys()
                await vault.reconcileWebhooks()
                await vault.workDueRemovals()
                // The tokens minted for sessions a previous run left (a kill -9 included).
                await vault.workDueMintedRevocations()
            }
            var lastWarning: ContinuousClock.Instant?
            var lastVerification: ContinuousClock.Instant?
            // Which tokens are due is read from the store (their last check), so the daily
            // re-verification survives restarts; it is looked for at most once a minute.
            let verificationLook = min(limits.tokenVerificationInterval, Self.tokenVerificationLook)
            while !Task.isCancelled {
                try? await Task.sleep(for: Self.housekeepingInterval)
                if Task.isCancelled { break }
                // The re-verification rides on the pass's SCM work, after the removals.
                var verify = true
                if let last = lastVerification { verify = ContinuousClock.now - last >= verificationLook }
                let extra: (@Sendable (Vault) async -> Void)? = verify ? Self.reverification : nil
                let started = await housekeep(alsoSCM: extra)
                if started && verify { lastVerification = .now }
                if lastWarning.map({ ContinuousClock.now - $0 >= Self.expiryWarningInterval }) ?? true {
                    warnExpiringTokens()
                    lastWarning = .now
                }
            }
        }
        // Refusal summaries every window, so a flood's last second is written promptly.
        let summaries = Task { [self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: RefusalLimiter.window)
                if Task.isCancelled { break }
                await flushRefusalSummaries()
            }
        }
        housekeeper.withLock { $0 = task }
        refusalFlusher.withLock { $0 = summaries }
    }

    /// Stops the housekeeping task (tests that need a retired version's sessions to stay).
    package func stopHousekeeping() {
        housekeeper.withLock { $0?.cancel() }
    }

    /// One pass; `extra` runs on the pass's SCM work after the pending removals. False
    /// when SCM work from an earlier pass was still running (nothing SCM was started).
    @discardableResult
    package func housekeep(alsoSCM extra: (@Sendable (Vault) async -> Void)? = nil) async -> Bool {
        let now = ContinuousClock.now
        _ = await endSessions(.expired, requestID: nil) { now >= $0.deadline }
        sessions.forgetEnded(now: now)
        // Hand memory freed since the last pass back to the system (glibc keeps it in
        // its arenas otherwise, and a burst of requests would leave the RSS high).
        defer { latchkey_release_free_memory() }
        do {
            let retired = try await store.database.read { db in
                try Int.fetchOne(db, sql: "SELECT count(*) FROM secret_version WHERE state = 'retiring' AND retire_at <= ?",
                    arguments: [Timestamp.now().description]) ?? 0
            }
            if retired > 0 {
                let swept = try await audit.append(
                    AuditEntry(actor: .init(role: .daemon), action: .secretRetire, outcome: .granted, reason: "grace-ended")
                ) { db in
                    let swept = try SecretVersions.sweep(in: db)
                    // Deploy keys Latchkey installed leave their server too (queued with the
                    // revocation); a queue row a store writer edited is left alone and reported.
                    var refused: [StoreError] = []
                    for (kind, owner, version) in swept where kind == .deployKey && owner.hasPrefix("project:") {
                        refused += try SCMDeployKeys.markRemoving(project: String(owner.dropFirst("project:".count)), versions: [version], in: db).refused
                    }
                    return (swept.map { RetiredVersion(kind: $0.0, owner: $0.1, version: $0.2) }, refused)
                }
                let (done, refused) = swept
                await reportBindingFailures(refused, action: .deployKeyUninstall, target: .init(kind: SecretKind.deployKey.rawValue))
                for d in done { logger.info("grace ended: \(d.kind.rawValue) \(d.owner) v\(d.version) revoked") }
                // The sessions holding a retired version end, and their agents stop.
                let retiredSet = Set(done)
                _ = await endSessions(.keyRevoked, requestID: nil) { s in
                    s.deployKeyVersion.map { retiredSet.contains(RetiredVersion(kind: .deployKey, owner: Project.owner(s.project), version: $0)) } == true
                }
                _ = await endSessions(.tokenRevoked, requestID: nil) { s in
                    guard let v = s.tokenVersion, let kind = s.tokenKind else { return false }
                    return retiredSet.contains(RetiredVersion(kind: kind, owner: "connection:\(s.connection)", version: v))
                }
                if !done.isEmpty { await truncateWAL(after: "secret.retire") }
            }
        } catch {
            logger.error("housekeeping could not retire versions: \(error)")
        }
        return startSCMWork { vault in
            await vault.workDueRemovals()
            await vault.workDueMintedRevocations()
            await vault.reconcileWebhooks(dueOnly: true)
            await extra?(vault)
        }
    }

    /// Runs `work` on a task of its own unless SCM work is still running (a later pass
    /// picks it up then; false). Cancelled at stop.
    @discardableResult
    func startSCMWork(_ work: @escaping @Sendable (Vault) async -> Void) -> Bool {
        scmWork.withLock { state in
            guard !state.running else { return false }
            state.running = true
            state.task = Task { [self] in
                await work(self)
                scmWork.withLock { $0.running = false }
            }
            return true
        }
    }

    func warnExpiringTokens() {
        let now = Timestamp.now()
        let soon = (try? store.database.read { db in
            try SecretVersions.list(kinds: [.token, .oauthClient], ownerPrefix: "connection:", in: db, now: now)
        }) ?? []
        for v in soon where v.state != .revoked {
            guard let exp = v.attributes["expires"].flatMap(Timestamp.init(parsing:)) else { continue }
            let days = AccessToken.daysLeft(until: exp, now: now)
            if days < AccessToken.expiryWarningDays {
                logger.warning(
                    days <= 0 ? "token expired; it is no longer released" : "token expires in \(days) day(s)",
                    metadata: ["owner": "\(v.owner)", "kind": "\(v.kind.rawValue)", "version": "\(v.version)", "expires": "\(v.attributes["expires"] ?? "")"])
            }
        }
    }
}

/// A secret version whose grace ended.
struct RetiredVersion: Hashable, Sendable {
    var kind: SecretKind
    var owner: String
    var version: Int64
}
