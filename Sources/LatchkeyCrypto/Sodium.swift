internal import CSodium

/// libsodium must be initialised once before any call; `sodium_init` is idempotent
/// and thread-safe, and returns -1 only when the library cannot work at all.
enum Sodium {
    static let ready: Bool = sodium_init() >= 0

    static func ensureReady() {
        precondition(ready, "libsodium could not be initialised")
    }
}
