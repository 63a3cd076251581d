import Synchronization

/// A counter shared across threads.
package final class AtomicCounter: Sendable {
    package init() {}
    private let value = Atomic<UInt64>(0)
    package func next() -> UInt64 { value.wrappingAdd(1, ordering: .relaxed).newValue }
    package var current: UInt64 { value.load(ordering: .relaxed) }
}
