import Synchronization

/// What row code is handed (where it took GRDB's `Database` before): the engine
/// connection of one `StoreDatabase.read`/`write` closure, and the store's row bindings.
package final class StoreDB {
    package let connection: any SQLConnection
    private let slot: RowBindingsSlot

    /// Made by an engine's `StoreDatabase` for each closure it runs; `bindings` is that
    /// database's `bindingsSlot`.
    package init(connection: any SQLConnection, bindings: RowBindingsSlot) {
        self.connection = connection
        slot = bindings
    }

    package var engine: SQLEngine { connection.engine }

    /// The unlocked key ring's row bindings (throws StoreError.locked before unlock);
    /// replaces the label registry that was behind `Store.bindings(db)`.
    package func bindings() throws(StoreError) -> RowBindings {
        guard let b = slot.current else { throw .locked }
        return b
    }

    @discardableResult
    package func execute(sql: String, arguments: SQLArguments = []) throws(SQLError) -> Int {
        try connection.execute(sql, arguments)
    }

    package func rows(sql: String, arguments: SQLArguments = []) throws(SQLError) -> [SQLRow] {
        try connection.rows(sql, arguments)
    }

    /// Streams rows (`body` returns false to stop early); for loops over many rows.
    package func forEachRow(sql: String, arguments: SQLArguments = [], _ body: (SQLRow) throws -> Bool) throws {
        try connection.forEachRow(sql, arguments, body)
    }

    /// `transform` of each row, streamed (no row is held after its turn): for listings
    /// and exports that read many rows. `transform` may run other statements, but not
    /// this same SQL text again.
    package func mapRows<T>(sql: String, arguments: SQLArguments = [], _ transform: (SQLRow) throws -> T) throws -> [T] {
        var out: [T] = []
        try forEachRow(sql: sql, arguments: arguments) { row in
            out.append(try transform(row))
            return true
        }
        return out
    }

    /// How a savepoint's body ends when it does not throw.
    package enum SavepointCompletion: Sendable { case commit, rollback }

    /// Runs `body` inside a savepoint of the current transaction: what it changed is kept
    /// (`.commit`) or undone (`.rollback`, or when it throws, the error rethrown). Plain SQL
    /// savepoints, the same on both engines. When the savepoint cannot be rolled back (the
    /// engine ended the transaction itself, as SQLite does on a full disk), throws
    /// `.unavailable`: the whole transaction is lost, nothing of it may be acknowledged.
    package func inSavepoint(_ body: () throws -> SavepointCompletion) throws {
        try connection.executeUnanswered("SAVEPOINT latchkey")
        let completion: SavepointCompletion
        do {
            completion = try body()
        } catch {
            try rollbackSavepoint(after: error)
            throw error
        }
        switch completion {
        case .commit: try connection.executeUnanswered("RELEASE SAVEPOINT latchkey")
        case .rollback: try rollbackSavepoint(after: nil)
        }
    }

    private func rollbackSavepoint(after original: (any Error)?) throws {
        do {
            try execute(sql: "ROLLBACK TO SAVEPOINT latchkey")
            try execute(sql: "RELEASE SAVEPOINT latchkey")
        } catch {
            if let e = original as? SQLError, e.isStorageFault { throw e }
            throw SQLError(kind: .unavailable, message: "the transaction could not be rolled back to its savepoint (\(error.message))")
        }
    }
}

/// The row bindings of an unlocked store, shared by every `StoreDB` its database makes.
/// Empty until `KeyRing.unlock` installs them (`Store.install`).
package final class RowBindingsSlot: Sendable {
    private let bindings = Mutex<RowBindings?>(nil)

    package init() {}

    package var current: RowBindings? { bindings.withLock { $0 } }

    package func install(_ b: RowBindings) {
        bindings.withLock { $0 = b }
    }
}

extension SQLValueConvertible {
    /// The first column of the first row; nil when there is no row or the value is NULL.
    /// Throws when the value is of another type.
    package static func fetchOne(_ db: StoreDB, sql: String, arguments: SQLArguments = []) throws -> Self? {
        var found: Self?
        var failure: SQLError?
        try db.forEachRow(sql: sql, arguments: arguments) { row in
            guard let value = row.values.first else { return false }
            if case .null = value { return false }
            if let v = Self.fromSQL(value) { found = v } else { failure = mismatch(value, sql: sql) }
            return false
        }
        if let failure { throw failure }
        return found
    }

    /// The first column of every row; throws when one is NULL or of another type (read
    /// nullable columns as `Optional<T>.fetchAll`).
    package static func fetchAll(_ db: StoreDB, sql: String, arguments: SQLArguments = []) throws -> [Self] {
        var all: [Self] = []
        try db.forEachRow(sql: sql, arguments: arguments) { row in
            let value = row.values.first ?? .null
            guard let v = Self.fromSQL(value) else { throw mismatch(value, sql: sql) }
            all.append(v)
            return true
        }
        return all
    }

    private static func mismatch(_ value: SQLValue, sql: String) -> SQLError {
        SQLError(kind: .other, message: "a column read as \(Self.self) is \(value.typeName) (in: \(sql.prefix(120)))")
    }
}

extension SQLRow {
    package static func fetchOne(_ db: StoreDB, sql: String, arguments: SQLArguments = []) throws -> SQLRow? {
        var found: SQLRow?
        try db.forEachRow(sql: sql, arguments: arguments) { row in
            found = row
            return false
        }
        return found
    }

    package static func fetchAll(_ db: StoreDB, sql: String, arguments: SQLArguments = []) throws -> [SQLRow] {
        try db.rows(sql: sql, arguments: arguments)
    }
}
