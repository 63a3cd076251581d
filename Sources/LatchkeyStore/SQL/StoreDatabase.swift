/// The store's database on either engine: what `Store.database` is.
/// `write` runs its closure in one transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL:
/// ISOLATION LEVEL SERIALIZABLE, the closure run again on a serialization failure, at most
/// 5 times) and commits durably before it returns; `read` in a consistent snapshot
/// (SQLite WAL snapshot; PostgreSQL REPEATABLE READ READ ONLY). Closures run on the
/// engine's own threads, never on an event loop; the synchronous forms block the caller.
///
/// Every `StoreDB` a database hands its closures reads the row bindings from the same
/// `bindingsSlot`, which `Store.install` fills when the key ring is unlocked.
package protocol StoreDatabase: Sendable {
    var engine: SQLEngine { get }
    /// The row bindings of the unlocked key ring, for every `StoreDB` this database makes.
    var bindingsSlot: RowBindingsSlot { get }
    func read<T>(_ body: (StoreDB) throws -> T) throws -> T
    func write<T>(_ body: (StoreDB) throws -> T) throws -> T
    /// A write that holds the lock named `key` for its whole transaction, shared with every
    /// other process on the same database that takes the same key: for state that many
    /// daemons extend in turn (the audit chain's head). Its closure sees what the holder
    /// before it committed. On SQLite, where one process writes a store, a plain `write`.
    func write<T>(holdingLock key: Int64, _ body: (StoreDB) throws -> T) throws -> T
    /// A wake-up each time another process may have written the `changes` feed (nil: the
    /// engine has none, or they are turned off; the feed is polled all the same).
    func changeNotifications() -> AsyncStream<Void>?
    func read<T: Sendable>(_ body: @escaping @Sendable (StoreDB) throws -> T) async throws -> T
    func write<T: Sendable>(_ body: @escaping @Sendable (StoreDB) throws -> T) async throws -> T
}

extension StoreDatabase {
    package func write<T>(holdingLock key: Int64, _ body: (StoreDB) throws -> T) throws -> T {
        try write(body)
    }

    package func changeNotifications() -> AsyncStream<Void>? { nil }
}
