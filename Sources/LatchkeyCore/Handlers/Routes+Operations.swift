import Foundation
package import NIOCore
import LatchkeyAudit
import LatchkeyCrypto
import LatchkeyStore

/// What operators call: a backup of the live store, and the metrics.
extension Vault {
    /// `POST /v1/backup` (admin): a consistent snapshot of the live store, taken while
    /// releases go on, answered as the SQLite file itself, streamed. A checkpoint is signed
    /// first, so the backup's chain is covered up to (nearly) its head; the granted row is
    /// durable before the first byte leaves. The snapshot is made in the data directory
    /// (0700, the file 0600) and unlinked as soon as it is open (`BackupSnapshot`), then
    /// sent a chunk at a time: the daemon holds one chunk of it, never the whole store. It
    /// holds sealed data only, never the master key.
    func takeBackup(_ op: inout Operation) async throws -> Response {
        try? await audit.checkpoint()
        let temporary = (store.directory as NSString).appendingPathComponent(".backup-\(Hex.encode(randomBytes(8))).db")
        let snapshot: BackupSnapshot
        do {
            try await StoreBackup.snapshot(store, to: temporary)
            snapshot = try BackupSnapshot(opening: temporary)
        } catch {
            unlink(temporary)
            logger.error("backup failed", metadata: ["request": "\(op.request.requestID)", "error": "\(error)"])
            throw APIError(.storeUnavailable, "the snapshot could not be made (\(error)); nothing was sent")
        }
        try await op.record(.granted)
        // A stream cut off (the client went away) is logged by the adapter; the snapshot's
        // descriptor closes with the answer.
        return Response(contentType: "application/vnd.sqlite3") { write in try await snapshot.stream(to: write) }
    }

    /// `GET /v1/metrics` (admins and auditors): Prometheus text format.
    func scrapeMetrics(_ op: inout Operation) async throws -> Response {
        let now = Timestamp.now()
        let (expiry, minted, appKeys) = try await op.read { db in
            let expiry = try SecretVersions.list(kinds: [.token, .oauthClient], ownerPrefix: "connection:", in: db, now: now).compactMap {
                v -> (connection: String, kind: String, version: Int64, daysLeft: Double)? in
                guard v.isUsable(at: now), let text = v.attributes["expires"], let expires = Timestamp(parsing: text) else { return nil }
                let days = Double(expires.microseconds - now.microseconds) / Self.microsecondsPerDay
                return (String(v.owner.dropFirst("connection:".count)), v.kind.rawValue, v.version, days)
            }
            let appKeys = try Connection.all(in: db).filter { $0.kind == .githubEnterprise }.map { c in
                (connection: c.name, version: try SecretVersions.findActive(kind: .githubApp, owner: Self.connectionOwner(c.name), in: db, now: now)?.version ?? 0)
            }
            return (expiry, try MintedTokens.countByState(in: db), appKeys)
        }
        let snapshot = Metrics.Snapshot(
            sessionsOpen: sessions.count, keyGeneration: keyRing.generation, uptime: ContinuousClock.now - startedAt, tokenExpiry: expiry,
            repoTokensLive: minted[.live] ?? 0, repoTokenRevocationsPending: minted[.revoking] ?? 0,
            githubAppKeys: appKeys)
        return Response(contentType: "text/plain; version=0.0.4; charset=utf-8", body: ByteBuffer(bytes: metrics.render(snapshot)))
    }

    static let microsecondsPerDay = 86_400_000_000.0
}
