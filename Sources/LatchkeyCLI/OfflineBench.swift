import Foundation
import LatchkeyAPI
import LatchkeyAudit
import LatchkeyClient
import LatchkeyCrypto
import LatchkeySSH
import LatchkeyStore
import Synchronization

/// One figure measured outside the request workloads.
struct OfflineFigure: Encodable {
    var name: String
    var value: Double
    var unit: String
    var target: String
    var met: Bool
    var note: String
}

/// The sizes of the offline run; `scale` shrinks them for a quick run.
struct OfflineSizes {
    var auditRows: Int
    var projects: Int
    var connections: Int
    var tokenVersionsPerConnection: Int
    var sessions: Int

    init(scale: Double) {
        func n(_ full: Int, min: Int) -> Int { Swift.max(min, Int((Double(full) * scale).rounded())) }
        auditRows = n(1_000_000, min: 2_000)
        projects = n(10_000, min: 20)
        connections = n(100, min: 2)
        tokenVersionsPerConnection = n(900, min: 5)
        sessions = n(10_000, min: 20)
    }

    var secrets: Int { projects + connections * tokenVersionsPerConnection }
}

/// The bench issue's offline figures, on one throwaway data directory:
/// `audit verify` speed over `auditRows` rows, daemon start-up with `projects`
/// projects, master-key rotation over `secrets` sealed versions (through the API, as
/// an admin runs it), and the daemon's RSS holding `sessions` live sessions.
enum OfflineBench {
    static func run(scale: Double, progress: (String) -> Void) throws -> [OfflineFigure] {
        let sizes = OfflineSizes(scale: scale)
        let root = try BenchDaemon.makeRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        var figures: [OfflineFigure] = []

        progress("storing \(sizes.projects) projects and \(sizes.secrets) sealed secrets")
        let (store, keyRing) = try populate(root: root, sizes: sizes)

        progress("starting the daemon on \(sizes.projects) projects")
        let startup = try timedStart(root: root)
        figures.append(OfflineFigure(
            name: "daemon start-up", value: startup * 1000, unit: "ms", target: "≤ 1,000 ms with 10,000 projects", met: startup <= 1,
            note: "\(sizes.projects) projects, \(sizes.secrets) secrets; spawn to first answered health check"))

        progress("writing \(sizes.auditRows) audit rows")
        let written = try writeAuditRows(store: store, keyRing: keyRing, sizes: sizes)
        progress("verifying the audit log")
        let t0 = ContinuousClock.now
        let report = try AuditReader.verify(databasePath: root + "/data/" + DataDirectory.databaseName, publicKey: keyRing.auditSigning.publicKey)
        let verifySeconds = seconds(ContinuousClock.now - t0)
        guard report.isIntact, report.rowsChecked >= written else {
            throw InputError("the benchmark's audit log did not verify: \(report)")
        }
        let rate = Double(report.rowsChecked) / verifySeconds
        figures.append(OfflineFigure(
            name: "audit verify", value: rate, unit: "rows/s", target: "≥ 1,000,000 rows/s", met: rate >= 1_000_000,
            note: "\(report.rowsChecked) rows, \(report.checkpointsChecked) checkpoints in \(format(verifySeconds)) s"))

        progress("starting the daemon again, on the long audit log")
        let t1 = ContinuousClock.now
        let daemon = try BenchDaemon.start(root: root)
        defer { daemon.stop() }
        let restart = seconds(ContinuousClock.now - t1)
        let size = (try? FileManager.default.attributesOfItem(atPath: root + "/data/" + DataDirectory.databaseName)[.size] as? Int) ?? 0
        figures.append(OfflineFigure(
            name: "daemon start-up, long log", value: restart * 1000, unit: "ms", target: "(grows with the file)", met: true,
            note: "\(report.rowsChecked) audit rows too, \(size / 1_048_576) MiB store: SQLite's quick_check reads the whole file"))

        progress("rotating the master key over \(sizes.secrets) secrets")
        let client = try LatchkeyClient(socketPath: daemon.socketPath)
        let t2 = ContinuousClock.now
        let rotation: MasterKeyRotation = try client.call("POST", "/v1/master-key/rotate")
        let rotateSeconds = seconds(ContinuousClock.now - t2)
        // Every stored secret plus the key ring's own sealed subkeys.
        guard rotation.rewrapped >= sizes.secrets else {
            throw InputError("master-key rotation re-wrapped \(rotation.rewrapped) data keys, fewer than the \(sizes.secrets) secrets stored")
        }
        figures.append(OfflineFigure(
            name: "master-key rotation", value: rotateSeconds, unit: "s", target: "≤ 5 s for 100,000 secrets", met: rotateSeconds <= 5,
            note: "\(rotation.rewrapped) data keys re-wrapped in one transaction, audited"))

        progress("opening \(sizes.sessions) sessions")
        let before = daemon.residentKiB ?? 0
        try openSessions(sizes.sessions, projects: sizes.projects, socket: daemon.socketPath)
        let live: [SessionInfo] = try client.call("GET", "/v1/sessions")
        guard live.count == sizes.sessions else { throw InputError("\(live.count) sessions live, not \(sizes.sessions)") }
        // The steady state: one housekeeping pass (every 5 s) returns memory freed by the
        // burst of opens to the system (a quick run skips the wait).
        if sizes.sessions >= 1_000 { usleep(6_000_000) }
        let rss = Double(daemon.residentKiB ?? 0) / 1024
        figures.append(OfflineFigure(
            name: "RSS with live sessions", value: rss, unit: "MiB", target: "≤ 100 MiB with 10,000 sessions", met: rss <= 100,
            note: "\(sizes.sessions) sessions; \(before / 1024) MiB before them"))
        return figures
    }

    /// The store with its connections, projects and secrets.
    private static func populate(root: String, sizes: OfflineSizes) throws -> (Store, KeyRing) {
        let (store, keyRing) = try initializeStore(dataDirectory: root + "/data", source: .keyFile(path: root + "/master.key"), limits: .interactive)
        try store.database.write { db in
            for c in 0..<sizes.connections {
                let connection = try Connection(
                    name: "bench-\(c)", kind: .githubEnterprise, webURL: "https://ghe\(c).bench.invalid", apiURL: nil, sshURL: nil)
                try Connection.insert(connection, in: db)
                let (connectionID, _) = try Connection.find(connection.name, in: db)
                for _ in 0..<sizes.tokenVersionsPerConnection {
                    _ = try SecretVersions.add(
                        kind: .token, owner: "connection:\(connection.name)", connectionID: connectionID, grace: .seconds(86_400), keyRing: keyRing,
                        in: db
                    ) { _ in
                        var token = Array(("ghp_" + Hex.encode(randomBytes(18))).utf8)
                        return (try SecretBytes(consuming: &token), ["username": "bench"])
                    }
                }
            }
            for p in 0..<sizes.projects {
                let project = try Project(name: projectName(p), connection: "bench-\(p % sizes.connections)", repo: "bench/repo-\(p)")
                try Project.insert(project, in: db)
                let (projectID, _) = try Project.find(project.name, in: db)
                let key = try DeployKey.generate(type: .ed25519)
                _ = try SecretVersions.add(
                    kind: .deployKey, owner: project.owner, projectID: projectID, grace: .seconds(0), keyRing: keyRing, in: db
                ) { version in
                    let comment = "latchkey:\(project.name):v\(version)"
                    return (try key.openSSHPrivateKey(comment: comment), [
                        "type": "ed25519", "bits": "256", "fingerprint": key.fingerprint, "public_key": key.authorizedKeysLine(comment: comment),
                    ])
                }
            }
        }
        return (store, keyRing)
    }

    /// Seconds from spawning a daemon on `root` to its first answer; stops it again.
    private static func timedStart(root: String) throws -> Double {
        let t = ContinuousClock.now
        let daemon = try BenchDaemon.start(root: root)
        let elapsed = seconds(ContinuousClock.now - t)
        daemon.removesRoot = false
        daemon.stop()
        return elapsed
    }

    /// `auditRows` rows appended through the audit log, in batches as the daemon writes
    /// them (chained after the daemon's own rows); returns how many.
    private static func writeAuditRows(store: Store, keyRing: KeyRing, sizes: OfflineSizes) throws -> Int {
        let log = try AuditLog(store: store, signingKey: keyRing.auditSigning) { _ in }
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var failure: (any Error)?
        let total = sizes.auditRows
        Task {
            do {
                var written = 0
                while written < total {
                    let n = min(AuditLog.maxBatch, total - written)
                    let first = written
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for i in first..<(first + n) {
                            group.addTask {
                                try await log.append(AuditEntry(
                                    actor: .init(role: .build, uid: 1000, gid: 1000, pid: Int32(i % 30_000 + 2), sessionID: "s_bench"),
                                    action: .secretRelease,
                                    target: .init(connection: "bench-0", project: projectName(i % sizes.projects), kind: "deploy-key", version: 1),
                                    outcome: .granted, requestID: "bench-\(i)"))
                            }
                        }
                        try await group.waitForAll()
                    }
                    written += n
                }
                await log.close()
            } catch {
                failure = error
            }
            done.signal()
        }
        done.wait()
        if let failure { throw failure }
        return total
    }

    private static func openSessions(_ count: Int, projects: Int, socket: String) throws {
        let threads = 4
        let failures = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            guard let connection = try? UnixHTTPConnection(path: socket) else { return failures.withLock { $0 += 1 } }
            for i in stride(from: t, to: count, by: threads) {
                let body = Array(#"{"project":"\#(projectName(i % projects))","build":"bench-\#(i)","grants":["deploy-key"],"ttlSeconds":3600,"uses":10}"#.utf8)
                if (try? connection.send(method: "POST", path: "/v1/sessions", body: body).status) != 201 { failures.withLock { $0 += 1 } }
            }
        }
        let failed = failures.withLock { $0 }
        guard failed == 0 else { throw InputError("\(failed) of \(count) session opens failed") }
    }

    private static func projectName(_ i: Int) -> String { "p\(i)" }

    private static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    private static func format(_ s: Double) -> String { String(format: "%.2f", s) }
}
