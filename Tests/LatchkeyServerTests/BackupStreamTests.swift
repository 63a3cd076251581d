import Foundation
import LatchkeyAudit
import LatchkeyClient
import LatchkeyCrypto
import LatchkeyServer
import LatchkeyStore
import Testing

/// `POST /v1/backup` streams the snapshot: the answer leaves a chunk at a time (the daemon
/// holds one chunk of the store, never the whole file), the snapshot file is gone from the
/// data directory once it is open, and what arrives is a backup that `backup verify`'s
/// checks pass.
@Suite(.serialized) struct BackupStreamTests {
    /// Grows the store by `rows` audit rows (through the real writer, batched), each with a
    /// reason of `AuditEntry.maxField` random hex characters, so the store is several MiB.
    static func grow(_ d: TestDaemon, rows: Int) async throws {
        let audit = d.daemon.vault.audit
        let perRound = 64
        for round in stride(from: 0, to: rows, by: perRound) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in round..<min(round + perRound, rows) {
                    let reason = Hex.encode(randomBytes(AuditEntry.maxField / 2))
                    group.addTask {
                        _ = try await audit.append(
                            AuditEntry(actor: .init(role: "auditor", uid: getuid()), action: "audit.public-key", outcome: .granted, reason: reason))
                    }
                }
                try await group.waitForAll()
            }
        }
    }

    /// Snapshot files left in the data directory (there must be none once a backup is open).
    static func leftovers(_ d: TestDaemon) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: d.dataDirectory)) ?? []).filter { $0.hasPrefix(".backup-") }
    }

    /// Descriptors of this process (the daemon runs in it) still open on a snapshot.
    static func openSnapshots() -> Int {
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return fds.filter { ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + $0)) ?? "").contains("/.backup-") }.count
    }

    @Test func aLargeStoresBackupIsStreamedInBoundedChunksAndVerifies() async throws {
        let d = try await TestDaemon()
        try await Self.grow(d, rows: 8_000)
        let publicKey = d.daemon.vault.keyRing.auditSigning.publicKey
        let file = d.directory + "/streamed.backup"
        let (chunks, largest, bytes, leftoverWhileStreaming) = try await offPool { () -> (Int, Int, Int, [String]) in
            let fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0o600)
            defer { close(fd) }
            var chunks = 0
            var largest = 0
            var bytes = 0
            var leftover: [String] = []
            try d.client().stream("/v1/backup", method: "POST") { piece in
                if chunks == 0 { leftover = Self.leftovers(d) }
                chunks += 1
                largest = max(largest, piece.count)
                bytes += piece.count
                _ = piece.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) }
            }
            return (chunks, largest, bytes, leftover)
        }
        #expect(bytes > 4 * BackupSnapshot.chunkBytes, "the store is large enough to need many chunks (\(bytes) bytes)")
        #expect(largest <= BackupSnapshot.chunkBytes, "no chunk is larger than the daemon's read (\(largest) bytes)")
        #expect(chunks >= (bytes + BackupSnapshot.chunkBytes - 1) / BackupSnapshot.chunkBytes, "\(chunks) chunk(s) for \(bytes) bytes")
        #expect(leftoverWhileStreaming.isEmpty, "the snapshot was unlinked once open: \(leftoverWhileStreaming)")
        #expect(Self.leftovers(d).isEmpty)
        // What `backup verify` checks: integrity, schema, key ring, the chain and checkpoints.
        let facts = try StoreBackup.inspect(file)
        #expect(facts.bytes == Int64(bytes))
        #expect(facts.lastAuditSeq >= 8_000)
        let report = try AuditReader.verify(databasePath: file, publicKey: publicKey)
        #expect(report.isIntact, "\(report)")
        // The backup's own row is durable.
        let rows = try await d.daemon.vault.store.database.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM audit WHERE action = 'store.backup' AND outcome = 'granted'") ?? 0
        }
        #expect(rows == 1)
        await d.stop()
    }

    /// A client that reads the first bytes of a backup and goes away: the daemon stops
    /// reading the snapshot, and neither the file nor a descriptor on it is left behind.
    @Test func aBackupCutOffByItsClientLeavesNoSnapshotBehind() async throws {
        let d = try await TestDaemon()
        try await Self.grow(d, rows: 4_000)
        let before = Self.openSnapshots()
        try await offPool {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: Array(d.socketPath.utf8)) }
            _ = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            let request = Array("POST /v1/backup HTTP/1.1\r\nHost: latchkey\r\nContent-Length: 0\r\n\r\n".utf8)
            _ = request.withUnsafeBytes { send(fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
            var buf = [UInt8](repeating: 0, count: 4096)
            let n = recv(fd, &buf, buf.count, 0)
            #expect(n > 0 && String(decoding: buf[0..<n], as: UTF8.self).hasPrefix("HTTP/1.1 200"))
            close(fd)
        }
        // The daemon notices at its next write; give it a bounded while to let go.
        var open = Self.openSnapshots()
        for _ in 0..<300 where open > before {
            try await Task.sleep(for: .milliseconds(100))
            open = Self.openSnapshots()
        }
        #expect(open == before, "a descriptor on the snapshot is still open")
        #expect(Self.leftovers(d).isEmpty)
        // The daemon still serves, and a backup after it is whole.
        let whole = try await offPool { try d.client().call("POST", "/v1/backup") }
        #expect(whole.count > BackupSnapshot.chunkBytes)
        await d.stop()
    }
}
