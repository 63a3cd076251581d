internal import CSodium

/// Secret bytes in guarded memory.
///
/// Backed by a `sodium_malloc` region (guard pages, canary, locked when possible).
/// Its pages are readable only while the secret is in use: `withUnsafeBytes` opens
/// them, and `IdleProtector` closes them (`PROT_NONE`) once no scope has read them
/// for a pass (20 ms). On release the bytes are wiped and the region is kept, empty,
/// for the next secret (`GuardedPool`). It cannot be printed, interpolated, encoded,
/// logged or compared with `==`: use `withUnsafeBytes` for scoped access and
/// `constantTimeEquals` to compare.
package final class SecretBytes: @unchecked Sendable {
    // `@unchecked Sendable`: the bytes are written once, in `init`, and then only read
    // inside `withUnsafeBytes` scopes, which the region's lock keeps readable.
    private let region: GuardedRegion
    package let count: Int

    /// Allocates `count` guarded bytes and lets `fill` write them once.
    package init(count: Int, fill: (UnsafeMutableRawBufferPointer) throws -> Void) throws {
        guard let r = GuardedPool.take(count: max(count, 1)) else { throw CryptoError.outOfSecureMemory }
        region = r
        self.count = count
        // If `fill` throws, the object is already whole and `deinit` wipes the memory.
        try fill(UnsafeMutableRawBufferPointer(start: r.pointer, count: count))
        IdleProtector.shared.watch(r)
    }

    /// `count` fresh random bytes.
    package static func random(count: Int) throws -> SecretBytes {
        try SecretBytes(count: count) { randombytes_buf($0.baseAddress!, $0.count) }
    }

    /// Copies bytes into guarded memory and wipes the source buffer.
    package convenience init(consuming source: inout [UInt8]) throws {
        try self.init(count: source.count) { dest in
            source.withUnsafeBytes { dest.copyMemory(from: $0) }
        }
        source.withUnsafeMutableBytes { sodium_memzero($0.baseAddress, $0.count) }
        source.removeAll()
    }

    deinit {
        GuardedPool.give(region, count: max(count, 1))  // wiped before anyone else gets it
    }

    /// Scoped read access. The pages are readable while some scope is open (and for a
    /// moment after, until the idle protector's next pass).
    package func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        region.beginRead()
        defer { region.endRead() }
        return try body(UnsafeRawBufferPointer(start: region.pointer, count: count))
    }

    /// Whether the pages can be read right now (for tests of the idle protection).
    var isReadable: Bool { region.isReadable }

    /// Compares in constant time (`sodium_memcmp`); lengths are public.
    package func constantTimeEquals(_ other: SecretBytes) -> Bool {
        guard count == other.count else { return false }
        if count == 0 { return true }
        return withUnsafeBytes { a in
            other.withUnsafeBytes { b in sodium_memcmp(a.baseAddress!, b.baseAddress!, count) == 0 }
        }
    }

    /// Compares with plain bytes in constant time.
    package func constantTimeEquals(_ bytes: some Collection<UInt8>) -> Bool {
        let other = Array(bytes)
        guard count == other.count else { return false }
        if count == 0 { return true }
        return withUnsafeBytes { a in
            other.withUnsafeBytes { b in sodium_memcmp(a.baseAddress!, b.baseAddress!, count) == 0 }
        }
    }

    /// A copy of bytes `range` in fresh guarded memory.
    package func slice(_ range: Range<Int>) throws -> SecretBytes {
        precondition(range.lowerBound >= 0 && range.upperBound <= count)
        return try withUnsafeBytes { src in
            try SecretBytes(count: range.count) { dest in
                dest.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[range]))
            }
        }
    }
}

extension SecretBytes: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    package var description: String { "<redacted \(count) bytes>" }
    package var debugDescription: String { description }
    package var customMirror: Mirror { Mirror(self, children: [:]) }
}

/// Wipes a plain byte array in place (for transient copies that must leave memory).
package func wipe(_ bytes: inout [UInt8]) {
    bytes.withUnsafeMutableBytes { sodium_memzero($0.baseAddress, $0.count) }
}
