import Foundation
package import NIOCore
package import LatchkeyStore

/// A backup snapshot on its way to an admin client: the file `StoreBackup.snapshot` made
/// (0600, in the data directory), opened and at once unlinked, so that from then on the
/// open descriptor is the only way to it — a client that goes away, a stream cut off, or
/// a daemon that crashes mid-answer leaves no copy of the store behind (the kernel frees
/// it when the descriptor closes). Read a chunk at a time with `pread`, so the daemon
/// holds one chunk of a backup however large the store; closed when the last reference
/// (the streamed answer) is released.
package final class BackupSnapshot: Sendable {
    /// Bytes per chunk of a streamed backup: what the daemon holds of it at once.
    package static let chunkBytes = 256 * 1024

    private let fd: Int32
    /// The snapshot's size when it was opened (it never changes: nobody else can reach it).
    package let bytes: Int64

    /// Opens `path` and removes it from its directory.
    package init(opening path: String) throws(StoreError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw .unavailable(reason: "cannot open the snapshot \(path): \(String(cString: strerror(errno)))") }
        unlink(path)
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            close(fd)
            throw .unavailable(reason: "cannot stat the snapshot")
        }
        self.fd = fd
        bytes = Int64(st.st_size)
    }

    deinit { close(fd) }

    /// Up to `maxBytes` from `offset`; empty at the end of the file.
    package func chunk(at offset: Int64, maxBytes: Int = BackupSnapshot.chunkBytes) throws(StoreError) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: maxBytes)
        var failure: Int32 = 0
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: maxBytes) { raw in
            while true {
                let n = pread(fd, raw.baseAddress!, min(raw.count, maxBytes), off_t(offset))
                if n < 0 && errno == EINTR { continue }
                if n < 0 { failure = errno }
                return max(n, 0)
            }
        }
        guard failure == 0 else { throw .unavailable(reason: "cannot read the snapshot: \(String(cString: strerror(failure)))") }
        return buffer
    }

    /// Hands the whole snapshot to `write`, a chunk at a time, each once the one before it
    /// was taken (the adapter's `write` returns when its chunk reached the socket).
    package func stream(to write: @Sendable (ByteBuffer) async throws -> Void) async throws {
        var offset: Int64 = 0
        while offset < bytes {
            let piece = try chunk(at: offset)
            guard piece.readableBytes > 0 else { throw StoreError.unavailable(reason: "the snapshot ended at \(offset) of \(bytes) bytes") }
            offset += Int64(piece.readableBytes)
            try await write(piece)
        }
    }
}
