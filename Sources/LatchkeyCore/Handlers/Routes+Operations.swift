import Foundation
package import NIOCore
import LatchkeyAudit
import LatchkeyCrypto
import LatchkeyStore

/// What operators call: a backup of the live store, and the metrics.
extension Vault {
    /// `POST /v1/backup` (admin): a consistent snapshot of the live store, taken while
    /// releases go on, answered as the SQLite file itself. A checkpoint is signed first,
    /// so the backup's chain is covered up to (nearly) its head; the granted row is
    /// durable before the first byte leaves. The snapshot is made in the data directory
    /// (0700) and removed once read; it holds sealed data only, never the master key.
    func takeBackup(_ op: inout Operation) async throws -> Response {
        try? await audit.checkpoint()
        let temporary = (store.directory as NSString).appendingPathComponent(".backup-\(Hex.encode(randomBytes(8))).db")
        defer { unlink(temporary) }
        let body: ByteBuffer
        do {
            try await StoreBackup.snapshot(store, to: temporary)
            body = try Self.readFile(temporary)
        } catch {
            logger.error("backup failed", metadata: ["request": "\(op.request.requestID)", "error": "\(error)"])
            throw APIError(.storeUnavailable, "the snapshot could not be made (\(error)); nothing was sent")
        }
        try await op.record(.granted)
        return Response(contentType: "application/vnd.sqlite3", body: body)
    }

    /// `GET /v1/metrics` (admins and auditors): Prometheus text format.
    func scrapeMetrics(_ op: inout Operation) async throws -> Response {
        let now = Timestamp.now()
        let expiry = try await op.read { db in
            try SecretVersions.list(kinds: [.token, .oauthClient], ownerPrefix: "connection:", in: db, now: now).compactMap {
                v -> (connection: String, kind: String, version: Int64, daysLeft: Double)? in
                guard v.isUsable(at: now), let text = v.attributes["expires"], let expires = Timestamp(parsing: text) else { return nil }
                let days = Double(expires.microseconds - now.microseconds) / Self.microsecondsPerDay
                return (String(v.owner.dropFirst("connection:".count)), v.kind.rawValue, v.version, days)
            }
        }
        let snapshot = Metrics.Snapshot(
            sessionsOpen: sessions.count, keyGeneration: keyRing.generation, uptime: ContinuousClock.now - startedAt, tokenExpiry: expiry)
        return Response(contentType: "text/plain; version=0.0.4; charset=utf-8", body: ByteBuffer(bytes: metrics.render(snapshot)))
    }

    static let microsecondsPerDay = 86_400_000_000.0

    /// A whole file into one buffer.
    static func readFile(_ path: String) throws -> ByteBuffer {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StoreError.unavailable(reason: "cannot read \(path): \(String(cString: strerror(errno)))") }
        defer { Glibc.close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw StoreError.unavailable(reason: "cannot stat \(path)") }
        var buffer = ByteBufferAllocator().buffer(capacity: Int(st.st_size))
        while true {
            var got = 0
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 1 << 16) { raw in
                got = Glibc.read(fd, raw.baseAddress!, raw.count)
                return max(got, 0)
            }
            if got < 0 && errno == EINTR { continue }
            guard got >= 0 else { throw StoreError.unavailable(reason: "cannot read \(path): \(String(cString: strerror(errno)))") }
            if got == 0 { return buffer }
        }
    }
}
