package import NIOCore
import LatchkeyCore
import Foundation
import Synchronization

/// Wipes a released secret's answer bytes once the socket has taken them (promise 5:
/// plaintext does not linger in ordinary heap buffers). The body is built in one buffer
/// that never grows after the secret goes in (`SecretJSON`), so its one storage is the
/// only heap copy the daemon made; when the write of the answer's end completes, NIO is
/// done with it, and the storage is zeroed where it is — through the buffer's own
/// pointer, not a copy-on-write copy, so every value still sharing it (the answer's
/// future, say) sees zeros too. Cost per release: one callback on the write's future
/// and a memset of the body; no lock (the test hook is behind one relaxed atomic load).
package enum SecretBodyWipe {
    /// Answers wiped.
    package static let wiped = AtomicCounter()

    /// Zeroes the storage behind the buffer's readable bytes.
    package static func wipe(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { bytes in
            if let base = bytes.baseAddress { memset(UnsafeMutableRawPointer(mutating: base), 0, bytes.count) }
        }
        _ = wiped.next()
        if observing.load(ordering: .relaxed) { observer.withLock { $0 }?(buffer) }
    }

    // For tests: sees each buffer right after it was wiped.
    private static let observing = Atomic<Bool>(false)
    private static let observer = Mutex<(@Sendable (ByteBuffer) -> Void)?>(nil)

    package static func observe(_ body: (@Sendable (ByteBuffer) -> Void)?) {
        observer.withLock { $0 = body }
        observing.store(body != nil, ordering: .relaxed)
    }
}
