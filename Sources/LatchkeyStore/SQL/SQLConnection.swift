/// The database engine behind a store.
package enum SQLEngine: String, Sendable { case sqlite, postgresql }

/// One engine connection, inside a transaction (write) or a consistent snapshot (read),
/// handed to row code only for the length of one `StoreDatabase.read`/`write` closure.
/// SQL text uses `?` placeholders on both engines (the PostgreSQL connection rewrites them
/// to `$1, $2, …` outside quoted literals) and the subset both engines share:
/// `INSERT … ON CONFLICT … DO NOTHING/DO UPDATE SET x = excluded.x`, `RETURNING`,
/// `COALESCE`, `LIMIT ?`, `count(*)`, `||`. Engine-only statements (PRAGMAs, advisory
/// locks) are guarded by `engine`.
package protocol SQLConnection: AnyObject {
    var engine: SQLEngine { get }
    /// Runs one statement; returns how many rows it inserted, updated or deleted.
    @discardableResult
    func execute(_ sql: String, _ arguments: SQLArguments) throws(SQLError) -> Int
    func rows(_ sql: String, _ arguments: SQLArguments) throws(SQLError) -> [SQLRow]
    /// Streams rows without holding them all; `body` returns false to stop early.
    func forEachRow(_ sql: String, _ arguments: SQLArguments, _ body: (SQLRow) throws -> Bool) throws
    /// Runs a statement without arguments whose answer nothing waits for (SAVEPOINT,
    /// RELEASE): an engine across a network may send it with the next statement. If it
    /// fails, the transaction fails: the next statement, or the commit, says so.
    func executeUnanswered(_ sql: String) throws(SQLError)
}

extension SQLConnection {
    package func executeUnanswered(_ sql: String) throws(SQLError) {
        try execute(sql, [])
    }
}
