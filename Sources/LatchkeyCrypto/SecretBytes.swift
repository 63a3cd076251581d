internal import CSodium
import Synchronization

/// Secret bytes in guarded memory.
///
/// Backed by `sodium_malloc` (guard pages, canary, locked when possible), kept
/// `PROT_NONE` while nobody reads it, and wiped by `sodium_free` on release. It
/// cannot be printed, interpolated, encoded, logged or compared with `==`: use
/// `withUnsafeBytes` for scoped access and `constantTimeEquals` to compare.
public final class SecretBytes: @unchecked Sendable {
    // `@unchecked Sendable`: the pointer is only touched under `state`.
    private let pointer: UnsafeMutableRawPointer
    public let count: Int
    private let state = Mutex<Int>(0)  // number of scopes currently reading

    /// Allocates `count` guarded bytes and lets `fill` write them once.
    public init(count: Int, fill: (UnsafeMutableRawBufferPointer) throws -> Void) throws {
        Sodium.ensureReady()
        guard let p = sodium_malloc(max(count, 1)) else { throw CryptoError.outOfSecureMemory }
        pointer = p
        self.count = count
        // If `fill` throws, the object is already whole and `deinit` frees the memory.
        try fill(UnsafeMutableRawBufferPointer(start: p, count: count))
        sodium_mprotect_noaccess(p)
    }

    /// `count` fresh random bytes.
    public static func random(count: Int) throws -> SecretBytes {
        try SecretBytes(count: count) { randombytes_buf($0.baseAddress!, $0.count) }
    }

    /// Copies bytes into guarded memory and wipes the source buffer.
    public convenience init(consuming source: inout [UInt8]) throws {
        try self.init(count: source.count) { dest in
            source.withUnsafeBytes { dest.copyMemory(from: $0) }
        }
        source.withUnsafeMutableBytes { sodium_memzero($0.baseAddress, $0.count) }
        source.removeAll()
    }

    deinit {
        sodium_free(pointer)  // makes the pages writable, wipes them, unmaps
    }

    /// Scoped read access. The pages are readable only while some scope is open.
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        state.withLock { readers in
            if readers == 0 { sodium_mprotect_readonly(pointer) }
            readers += 1
        }
        defer {
            state.withLock { readers in
                readers -= 1
                if readers == 0 { sodium_mprotect_noaccess(pointer) }
            }
        }
        return try body(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    /// Compares in constant time (`sodium_memcmp`); lengths are public.
    public func constantTimeEquals(_ other: SecretBytes) -> Bool {
        guard count == other.count else { return false }
        if count == 0 { return true }
        return withUnsafeBytes { a in
            other.withUnsafeBytes { b in sodium_memcmp(a.baseAddress!, b.baseAddress!, count) == 0 }
        }
    }

    /// Compares with plain bytes in constant time.
    public func constantTimeEquals(_ bytes: some Collection<UInt8>) -> Bool {
        let other = Array(bytes)
        guard count == other.count else { return false }
        if count == 0 { return true }
        return withUnsafeBytes { a in
            other.withUnsafeBytes { b in sodium_memcmp(a.baseAddress!, b.baseAddress!, count) == 0 }
        }
    }

    /// A copy of bytes `range` in fresh guarded memory.
    public func slice(_ range: Range<Int>) throws -> SecretBytes {
        precondition(range.lowerBound >= 0 && range.upperBound <= count)
        return try withUnsafeBytes { src in
            try SecretBytes(count: range.count) { dest in
                dest.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[range]))
            }
        }
    }
}

extension SecretBytes: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { "<redacted \(count) bytes>" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [:]) }
}

/// Wipes a plain byte array in place (for transient copies that must leave memory).
public func wipe(_ bytes: inout [UInt8]) {
    bytes.withUnsafeMutableBytes { sodium_memzero($0.baseAddress, $0.count) }
}
