internal import Prometheus
package import LatchkeyAudit
package import LatchkeyPolicy
package import LatchkeyStore
import Foundation
import Synchronization

/// The daemon's metrics, answered by `GET /v1/metrics` in Prometheus' text format
/// (version 0.0.4) to admins and auditors.
///
/// Counters and histograms live in a swift-prometheus registry; everything on a hot
/// path is made once, at start-up, and kept: a release then costs one relaxed atomic
/// add on its counter and one histogram observation (swift-prometheus takes a short,
/// per-histogram lock for it) — no lookup, no allocation. Counters keyed by something
/// found later (a refusal code, an SCM status) are made on first use, off the hot path.
/// Gauges of the present (sessions open, days left per token, key generation, uptime,
/// minted repository tokens live and awaiting revocation, each GitHub connection's App
/// key) are computed when scraped, from the store where it holds the truth (the
/// revocation queue outlives the process).
///
/// Label values are route patterns (`GET /v1/projects/{name}`, never a filled-in path),
/// refusal codes, session end reasons, grants, HTTP statuses, server kinds, outcomes and
/// connection names: never a secret, a token, a token or session id, a repository, or
/// anything a client sent.
package final class Metrics: Sendable {
    private let registry = PrometheusCollectorRegistry()

    /// One per grant that releases something (`deploy-key-agent` never does).
    private let releases: [Grant: Counter]
    /// Repository tokens minted, by server kind and outcome.
    private let repoTokensMinted: [ConnectionKind: [RepoTokenMint: Counter]]
    /// Repository-token revocations worked, by server kind (`unknown` when the record
    /// names none) and outcome.
    private let repoTokenRevocations: [String: [RepoTokenRevocation: Counter]]
    private let agentSignatures: Counter
    private let sessionsOpened: Counter
    private let auditRows: Counter
    private let auditBatches: Counter
    private let auditFailures: Counter
    private let auditBatchRows: ValueHistogram
    private let auditCommit: DurationHistogram
    private let requestDuration: Mutex<[String: DurationHistogram]>
    private let unmatchedRequests: DurationHistogram

    static let requestBuckets: [Duration] = [
        .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1), .seconds(5),
    ]
    static let commitBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1),
    ]
    static let batchBuckets: [Double] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]

    package init() {
        let r = registry
        var releases: [Grant: Counter] = [:]
        for grant in Grant.allCases where grant != .deployKeyAgent {
            releases[grant] = r.makeCounter(
                name: "latchkey_releases_total", labels: [("grant", grant.rawValue)], help: "Secrets released to builds, by grant.")
        }
        self.releases = releases
        // Every series made now, so a scrape shows the zeros an alert compares with.
        var minted: [ConnectionKind: [RepoTokenMint: Counter]] = [:]
        for kind in ConnectionKind.allCases {
            for outcome in RepoTokenMint.allCases {
                minted[kind, default: [:]][outcome] = r.makeCounter(
                    name: "latchkey_repo_tokens_minted_total", labels: [("kind", kind.rawValue), ("outcome", outcome.rawValue)],
                    help: "Repository tokens minted for sessions, by server kind and outcome (failed: the server refused or did not answer, or the token could not be recorded).")
            }
        }
        repoTokensMinted = minted
        var revocations: [String: [RepoTokenRevocation: Counter]] = [:]
        for kind in ConnectionKind.allCases.map(\.rawValue) + [Self.unknownKind] {
            for outcome in RepoTokenRevocation.allCases {
                revocations[kind, default: [:]][outcome] = r.makeCounter(
                    name: "latchkey_repo_token_revocations_total", labels: [("kind", kind), ("outcome", outcome.rawValue)],
                    help: "Attempts at revoking minted repository tokens, by server kind and outcome (failed: retried later with backoff).")
            }
        }
        repoTokenRevocations = revocations
        agentSignatures = r.makeCounter(name: "latchkey_agent_signatures_total", help: "Signatures made by session ssh-agents.")
        sessionsOpened = r.makeCounter(name: "latchkey_sessions_opened_total", help: "Build sessions opened.")
        auditRows = r.makeCounter(name: "latchkey_audit_rows_total", help: "Audit rows made durable.")
        auditBatches = r.makeCounter(name: "latchkey_audit_batches_total", help: "Audit transactions committed (each holds one or more rows).")
        auditFailures = r.makeCounter(
            name: "latchkey_audit_failures_total", help: "Audit transactions that failed (their requests were refused, nothing released).")
        auditBatchRows = r.makeValueHistogram(name: "latchkey_audit_batch_rows", buckets: Self.batchBuckets, help: "Rows per audit transaction.")
        auditCommit = r.makeDurationHistogram(
            name: "latchkey_audit_commit_seconds", buckets: Self.commitBuckets, help: "Time to write and sync one audit transaction.")
        requestDuration = Mutex([:])
        unmatchedRequests = r.makeDurationHistogram(
            name: "latchkey_request_duration_seconds", labels: [("route", "unmatched")], buckets: Self.requestBuckets,
            help: "Time from a complete request to its answer, by route.")
    }

    // MARK: Recording

    /// The histogram of one route, made when the route table is built (not per request).
    package func requestHistogram(method: String, pattern: String) -> RequestTimer {
        let route = "\(method) \(pattern)"
        let h = requestDuration.withLock { table in
            if let h = table[route] { return h }
            let h = registry.makeDurationHistogram(
                name: "latchkey_request_duration_seconds", labels: [("route", route)], buckets: Self.requestBuckets,
                help: "Time from a complete request to its answer, by route.")
            table[route] = h
            return h
        }
        return RequestTimer(histogram: h)
    }

    /// For requests that matched no route.
    package var unmatched: RequestTimer { RequestTimer(histogram: unmatchedRequests) }

    package func released(_ grant: Grant) {
        releases[grant]?.increment()
    }

    /// How a mint for a session ended.
    package enum RepoTokenMint: String, Sendable, CaseIterable {
        case minted, failed
    }

    /// How one attempt at a queued revocation ended.
    package enum RepoTokenRevocation: String, Sendable, CaseIterable {
        /// Revoked on the server (or found absent there: a mint whose answer was lost).
        case revoked
        /// The attempt failed; the revocation stays queued and is retried.
        case failed
        /// The server had let it lapse already (GitHub's one-hour tokens): nothing to call.
        case expired
    }

    /// The label of a revocation whose record names no server kind.
    static let unknownKind = "unknown"

    package func repoTokenMinted(kind: ConnectionKind, _ outcome: RepoTokenMint) {
        repoTokensMinted[kind]?[outcome]?.increment()
    }

    package func repoTokenRevoked(kind: ConnectionKind?, _ outcome: RepoTokenRevocation) {
        repoTokenRevocations[kind?.rawValue ?? Self.unknownKind]?[outcome]?.increment()
    }

    package func signed() { agentSignatures.increment() }

    /// A refusal with its stable code (from the refusal list; never client text).
    package func refused(code: String) {
        registry.makeCounter(name: "latchkey_refusals_total", labels: [("code", code)], help: "Requests refused, by code.").increment()
    }

    package func sessionOpened() { sessionsOpened.increment() }

    package func sessionEnded(_ reason: SessionEnd) {
        registry.makeCounter(name: "latchkey_sessions_ended_total", labels: [("reason", reason.rawValue)], help: "Build sessions ended, by reason.")
            .increment()
    }

    /// The SCM client's hook: one outbound request and the HTTP status it got (0 when
    /// no answer came: connection refused, TLS failure, timeout).
    package func scmRequest(kind: String, status: Int) {
        registry.makeCounter(
            name: "latchkey_scm_requests_total", labels: [("kind", kind), ("status", String(status))],
            help: "Outbound requests to SCM servers, by server kind and HTTP status (0: no answer)."
        ).increment()
    }

    // MARK: Rendering

    /// What the present looks like when scraped.
    package struct Snapshot: Sendable {
        package var sessionsOpen: Int
        package var keyGeneration: Int64
        package var uptime: Duration
        /// Token versions with an expiry date: connection, kind, version, days left (negative once expired).
        package var tokenExpiry: [(connection: String, kind: String, version: Int64, daysLeft: Double)]
        /// Minted repository tokens held by live sessions.
        package var repoTokensLive: Int
        /// Minted repository tokens whose revocation is queued (not yet done on the server).
        package var repoTokenRevocationsPending: Int
        /// Each GitHub Enterprise connection's active App key version (0: none, so it mints nothing).
        package var githubAppKeys: [(connection: String, version: Int64)]
    }

    package func render(_ now: Snapshot) -> [UInt8] {
        var out = registry.emitToBuffer()
        func gauge(_ name: String, _ help: String, _ samples: [(labels: [(String, String)], value: String)]) {
            out += Array("# HELP \(name) \(help)\n# TYPE \(name) gauge\n".utf8)
            for s in samples {
                var line = name
                if !s.labels.isEmpty {
                    line += "{" + s.labels.map { "\($0.0)=\"\(Self.escapeLabel($0.1))\"" }.joined(separator: ",") + "}"
                }
                out += Array("\(line) \(s.value)\n".utf8)
            }
        }
        gauge("latchkey_sessions_open", "Build sessions live now.", [([], String(now.sessionsOpen))])
        gauge("latchkey_key_generation", "The active master-key generation.", [([], String(now.keyGeneration))])
        gauge("latchkey_uptime_seconds", "Seconds since the daemon started.", [([], String(now.uptime.components.seconds))])
        gauge(
            "latchkey_token_expiry_days", "Days until each token version's expiry date (negative once past).",
            now.tokenExpiry.map { t in
                ([("connection", t.connection), ("kind", t.kind), ("version", String(t.version))], String(format: "%.2f", t.daysLeft))
            })
        gauge("latchkey_repo_tokens_live", "Minted repository tokens held by live sessions.", [([], String(now.repoTokensLive))])
        gauge(
            "latchkey_repo_token_revocations_pending", "Minted repository tokens whose revocation on the server is queued (retried until done).",
            [([], String(now.repoTokenRevocationsPending))])
        gauge(
            "latchkey_github_app_key_version", "Each GitHub Enterprise connection's active App key version (0: none; App keys carry no expiry).",
            now.githubAppKeys.map { k in ([("connection", k.connection)], String(k.version)) })
        return out
    }

    /// Prometheus label-value escaping: backslash, double quote and newline.
    static func escapeLabel(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }
}

extension Metrics: AuditObserver {
    package func committed(rows: Int, in duration: Duration) {
        auditRows.increment(by: Int64(rows))
        auditBatches.increment()
        auditBatchRows.record(Double(rows))
        auditCommit.record(duration)
    }

    package func failed(rows: Int) { auditFailures.increment() }
}

/// One route's latency histogram, kept with the route.
package struct RequestTimer: Sendable {
    fileprivate let histogram: DurationHistogram

    package func record(since start: ContinuousClock.Instant) {
        histogram.record(ContinuousClock.now - start)
    }
}
