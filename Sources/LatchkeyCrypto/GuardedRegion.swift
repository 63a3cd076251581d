internal import CSodium
import Synchronization

/// One `sodium_malloc` allocation: guard pages on both sides, a canary, locked
/// (no swap) and left out of core dumps where the kernel allows.
///
/// Its pages are readable while the secret in it is in use and go back to
/// `PROT_NONE` once nobody has read it for a short while (see `IdleProtector`),
/// so a hot key costs no system call per use and an idle one cannot be read by a
/// stray pointer. Emptied regions are wiped and kept for reuse (`GuardedPool`), so
/// a secret that lives for one request costs no mmap, mprotect or munmap either.
final class GuardedRegion: @unchecked Sendable {
    // `@unchecked Sendable`: the pages' protection and contents change only under `state`.
    let pointer: UnsafeMutableRawPointer
    let capacity: Int
    private let state = Mutex(Access())

    struct Access {
        var readers = 0
        var pages = Pages.readWrite  // as sodium_malloc hands them out
        var touched = true
        var readable: Bool { pages != .closed }
    }

    enum Pages {
        case readWrite  // fresh or emptied, being filled
        case readOnly  // reopened after being closed
        case closed  // PROT_NONE
    }

    init?(capacity: Int) {
        Sodium.ensureReady()
        guard let p = sodium_malloc(capacity) else { return nil }
        pointer = p
        self.capacity = capacity
    }

    /// Wipes and unmaps (`sodium_free` checks the canary too).
    func free() {
        state.withLock { a in
            if a.pages != .readWrite { sodium_mprotect_readwrite(pointer) }
            a.pages = .readWrite
        }
        sodium_free(pointer)
    }

    var isReadable: Bool { state.withLock { $0.readable } }

    /// Opens the pages for reading for the length of one scope.
    func beginRead() {
        let reopened = state.withLock { a -> Bool in
            a.readers += 1
            a.touched = true
            guard !a.readable else { return false }
            sodium_mprotect_readonly(pointer)
            a.pages = .readOnly
            return true
        }
        if reopened { IdleProtector.shared.watch(self) }
    }

    func endRead() {
        state.withLock { $0.readers -= 1 }
    }

    /// Called by the protector on each pass: closes the pages if nobody read them
    /// since the previous pass. Returns whether they are closed now.
    func closeIfIdle() -> Bool {
        state.withLock { a in
            guard a.readable else { return true }
            guard a.readers == 0, !a.touched else {
                a.touched = false
                return false
            }
            sodium_mprotect_noaccess(pointer)
            a.pages = .closed
            return true
        }
    }

    /// Wipes the first `count` bytes (the only ones ever written) and leaves the pages
    /// read-write for the next secret.
    func wipe(count: Int) {
        state.withLock { a in
            precondition(a.readers == 0, "a secret was released while being read")
            if a.pages != .readWrite { sodium_mprotect_readwrite(pointer) }
            sodium_memzero(pointer, count)
            a = Access()
        }
    }
}

/// Wiped regions kept for reuse, by power-of-two size class.
enum GuardedPool {
    static let smallestClass = 32
    static let largestPooledClass = 16384
    static let keptPerClass = 64

    private static let free = Mutex<[Int: [GuardedRegion]]>([:])

    static func sizeClass(for count: Int) -> Int {
        var c = smallestClass
        while c < count { c <<= 1 }
        return c
    }

    static func take(count: Int) -> GuardedRegion? {
        let capacity = sizeClass(for: count)
        if capacity <= largestPooledClass, let region = free.withLock({ $0[capacity]?.popLast() }) {
            return region
        }
        return GuardedRegion(capacity: capacity)
    }

    /// Takes back a region whose secret is gone: wiped, then kept or freed.
    static func give(_ region: GuardedRegion, count: Int) {
        IdleProtector.shared.forget(region)
        region.wipe(count: count)
        guard region.capacity <= largestPooledClass else { return region.free() }
        let kept = free.withLock { classes -> Bool in
            guard classes[region.capacity, default: []].count < keptPerClass else { return false }
            classes[region.capacity, default: []].append(region)
            return true
        }
        if !kept { region.free() }
    }
}
