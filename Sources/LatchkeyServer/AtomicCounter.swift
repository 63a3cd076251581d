import Synchronization

/// A counter shared across threads.
final class AtomicCounter: Sendable {
    private let value = Atomic<UInt64>(0)
    func next() -> UInt64 { value.wrappingAdd(1, ordering: .relaxed).newValue }
    var current: UInt64 { value.load(ordering: .relaxed) }
}
