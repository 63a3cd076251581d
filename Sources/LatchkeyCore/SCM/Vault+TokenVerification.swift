import Foundation
import LatchkeyAPI
import LatchkeyAudit
import LatchkeyCrypto
import LatchkeySCM
import LatchkeyStore
import Logging

/// Asking the SCM server about a token: at `token put` with the candidate token before it
/// is stored, and once a day for every active token (housekeeping).
///
/// - `token put` (kind `token`, unless `--no-verify`): a token the server does not accept
///   (401, or GitLab reporting it revoked or inactive) is refused (`token_rejected`, audited,
///   nothing stored). A server that cannot be reached — network, TLS, timeout, 5xx, rate
///   limit — or that answers something Latchkey cannot use does not block the put: the
///   token is stored with a warning saying it was not verified, and the result recorded as
///   `unreachable` / `failed`, so `token list` says so until the next check. An expiry the
///   server reports replaces `--expires` (the difference is in the warnings and in
///   `expiresGiven`); scopes the projects need and the token lacks are a warning.
/// - Daily: every active token whose last check (or, never checked, whose creation) is a
///   `tokenVerificationInterval` old is checked again; the result is stored and audited
///   (`token.verify`), and a token that is rejected, lacks scopes or could not be checked
///   is logged (its connection, version and the server's words; never the token).
extension Vault {
    /// What a check found: the record to store, and the server's report when it answered.
    struct TokenCheck: Sendable {
        var record: TokenVerificationRecord
        var report: SCMTokenReport?
    }

    /// Asks `connection`'s server about `token` (one `scm.request` audit row per attempt).
    /// Never throws for the server's answer: that is the record's state.
    func checkToken(_ token: SecretBytes, connection: Connection, needs: [SCMRepositoryNeeds], requestID: String?) async -> TokenCheck {
        let now = Timestamp.now()
        let adapter: any SCMServerAdapter
        do throws(SCMError) {
            let client = try scmTransport(connection, project: nil, requestID: requestID)
            adapter = SCMAdapters.make(for: client)
        } catch {
            return TokenCheck(record: .init(state: .failed, checkedAt: now, message: error.message), report: nil)
        }
        do throws(SCMError) {
            let report = try await adapter.verifyToken(token, needs: needs)
            let state: TokenVerificationRecord.State = !report.active ? .rejected : report.missing.isEmpty ? .ok : .missingScopes
            return TokenCheck(
                record: .init(
                    state: state, checkedAt: now, user: report.user, scopes: report.scopes, expiresAt: report.expiresAt, missing: report.missing,
                    message: report.active ? nil : "\(connection.kind.scmDisplayName) \(connection.name) reports the token revoked or inactive"),
                report: report)
        } catch {
            let state: TokenVerificationRecord.State =
                switch error.code {
                case .unauthorized: .rejected
                case .rateLimited, .serverError, .timeout, .unreachable, .tls: .unreachable
                default: .failed
                }
            return TokenCheck(record: .init(state: state, checkedAt: now, message: error.message), report: nil)
        }
    }

    /// `token put`'s check of the candidate token: refuses a rejected one, and returns the
    /// check with the warnings to show.
    func verifyCandidate(_ token: SecretBytes, connection name: String, requestID: String?) async throws -> (TokenCheck, warnings: [String]) {
        let connection = try await store.database.read { db in try Connection.find(name, in: db).connection }
        let check = await checkToken(token, connection: connection, needs: try await scmNeeds(name), requestID: requestID)
        let r = check.record
        var warnings: [String] = []
        switch r.state {
        case .rejected:
            throw APIError(
                .tokenRejected,
                "\(r.message ?? "the server does not accept the token") — nothing was stored; check that you pasted the right token for \(name), or store it unverified with `latchkey token put \(name) --no-verify`")
        case .unreachable, .failed:
            warnings.append(
                "the token was NOT verified (\(r.message ?? r.state.rawValue)); it is stored anyway — `latchkey connection verify \(name)` checks it once the server answers, and the daemon re-verifies it daily")
        case .missingScopes:
            warnings.append("the server accepts the token, but it lacks \(r.missing.joined(separator: "; ")) — see `latchkey connection verify \(name)`")
        case .ok:
            break
        }
        return (check, warnings)
    }

    /// One pass of the daily re-verification: every token version that is due.
    func reverifyDueTokens() async {
        let interval = limits.tokenVerificationInterval
        let due: [(connection: String, version: Int64)]
        do {
            due = try await store.database.read { db in try TokenVerifications.due(interval: interval, in: db) }
        } catch {
            logger.error("could not read the tokens due for re-verification: \(error)")
            return
        }
        for (name, version) in due {
            if Task.isCancelled { return }
            await reverify(connection: name, version: version)
        }
    }

    private func reverify(connection name: String, version: Int64) async {
        let owner = "connection:\(name)"
        let target = AuditEntry.Target(connection: name, kind: SecretKind.token.rawValue, version: version)
        let check: TokenCheck
        do {
            let (connection, v, sealed) = try await store.database.read { db in
                let c = try Connection.find(name, in: db).connection
                let v = try SecretVersions.find(kind: .token, owner: owner, version: version, in: db)
                return (c, v, try SecretVersions.sealed(kind: .token, owner: owner, version: version, in: db))
            }
            guard let sealed else { return }
            let token = try openSealed(sealed, for: v)
            check = await checkToken(token, connection: connection, needs: try await scmNeeds(name), requestID: nil)
        } catch {
            // A row that fails its binding (or cannot be read) is not checked; the failure is
            // recorded so the version is not tried again before the next interval.
            if let e = error as? StoreError, case .bindingFailed = e {
                await reportBindingFailures([e], action: .tokenVerify, target: target)
            } else {
                logger.error("could not re-verify token v\(version) of \(name): \(error)")
            }
            let failed = TokenVerificationRecord(state: .failed, checkedAt: .now(), message: "not checked: \(APIError.from(error)?.message ?? "internal fault")")
            _ = try? await audit.append(AuditEntry(actor: .init(role: .daemon), action: .tokenVerify, target: target, outcome: .failed, reason: failed.state.rawValue)) { db in
                try TokenVerifications.save(failed, owner: owner, version: version, in: db)
            }
            return
        }
        let r = check.record
        do {
            _ = try await audit.append(
                AuditEntry(actor: .init(role: .daemon), action: .tokenVerify, target: target, outcome: r.state == .ok ? .granted : .failed, reason: r.state.rawValue)
            ) { db in try TokenVerifications.save(r, owner: owner, version: version, in: db) }
        } catch {
            logger.error("could not record the re-verification of token v\(version) of \(name): \(error)")
            return
        }
        let metadata: [String: Logger.MetadataValue] = ["connection": "\(name)", "version": "\(version)", "state": "\(r.state.rawValue)"]
        switch r.state {
        case .ok: logger.info("token re-verified: the server accepts it", metadata: metadata)
        case .rejected: logger.warning("token re-verified: REJECTED by the server (\(r.message ?? "")); put a new one with `latchkey token put \(name)`", metadata: metadata)
        case .missingScopes: logger.warning("token re-verified: it no longer covers its projects: lacks \(r.missing.joined(separator: "; "))", metadata: metadata)
        case .unreachable, .failed: logger.warning("token could not be re-verified: \(r.message ?? "")", metadata: metadata)
        }
    }
}

extension ConnectionKind {
    /// `GitHub Enterprise`, `GitLab`, `Bitbucket Server` (as the SCM client names them).
    var scmDisplayName: String { (SCMServerKind(rawValue: rawValue) ?? .githubEnterprise).displayName }
}

extension TokenVerificationRecord {
    var info: TokenVerificationInfo {
        TokenVerificationInfo(
            state: state.rawValue, checkedAt: checkedAt.description, user: user, scopes: scopes, expiresAt: expiresAt, missing: missing,
            message: message)
    }
}
