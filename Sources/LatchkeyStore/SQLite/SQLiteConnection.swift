package import GRDB
import Foundation

/// `SQLConnection` over GRDB's `Database`: one SQLite connection for the length of one
/// `SQLiteDatabase.read`/`write` closure. Statements are GRDB's cached statements, so the
/// hot ones stay prepared across closures (the cache belongs to the connection).
package final class SQLiteConnection: SQLConnection {
    /// Valid only inside the GRDB closure that made this connection.
    package let database: Database

    /// The statement last used, for `statement(_:)`: a batch runs one SQL text many times.
    /// (Row code runs no DDL, after which GRDB would hand out a fresh statement.)
    private var last: (sql: String, statement: Statement)?

    package init(_ database: Database) {
        self.database = database
    }

    /// The connection's cached statement for `sql` (the last one without a cache lookup).
    private func statement(_ sql: String) throws -> Statement {
        if let last, last.sql == sql { return last.statement }
        let statement = try database.cachedStatement(sql: sql)
        last = (sql, statement)
        return statement
    }

    package var engine: SQLEngine { .sqlite }

    @discardableResult
    package func execute(_ sql: String, _ arguments: SQLArguments) throws(SQLError) -> Int {
        do {
            let statement = try statement(sql)
            try statement.execute(arguments: Self.arguments(arguments))
            return statement.isReadonly ? 0 : database.changesCount
        } catch {
            throw Self.map(error)
        }
    }

    package func rows(_ sql: String, _ arguments: SQLArguments) throws(SQLError) -> [SQLRow] {
        var all: [SQLRow] = []
        do {
            try forEachRow(sql, arguments) { row in
                all.append(row)
                return true
            }
        } catch {
            throw Self.map(error)  // the body never throws: every error is the engine's
        }
        return all
    }

    /// The statement is the connection's cached one for `sql`: `body` may run other
    /// statements, but not this same SQL text again (it would restart the one being read).
    package func forEachRow(_ sql: String, _ arguments: SQLArguments, _ body: (SQLRow) throws -> Bool) throws {
        do {
            let statement = try statement(sql)
            let columns = statement.columnNames
            let cursor = try Row.fetchCursor(statement, arguments: Self.arguments(arguments))
            while let row = try cursor.next() {
                let copy = SQLRow(columns: columns, values: row.databaseValues.map(Self.value))
                let more: Bool
                do { more = try body(copy) } catch { throw BodyError(error: error) }
                if !more { break }
            }
        } catch let e as BodyError {
            throw e.error
        } catch {
            throw Self.map(error)
        }
    }

    /// An error of the row code's closure, carried past the mapping of engine errors.
    private struct BodyError: Error {
        let error: any Error
    }

    /// GRDB's arguments for ours. Built from existentials on purpose: GRDB's initializer for
    /// a sequence of a concrete convertible type maps through a key path, which costs a
    /// runtime key-path instantiation per statement (it was most of the audit writer's
    /// time per row).
    static func arguments(_ a: SQLArguments) -> StatementArguments {
        var values: [(any DatabaseValueConvertible)?] = []
        values.reserveCapacity(a.values.count)
        for v in a.values { values.append(Self.databaseValue(v)) }
        return StatementArguments(values)
    }

    static func databaseValue(_ v: SQLValue) -> DatabaseValue {
        switch v {
        case .null: .null
        case .integer(let i): i.databaseValue
        case .real(let d): d.databaseValue
        case .text(let s): s.databaseValue
        case .blob(let b): b.databaseValue
        }
    }

    static func value(_ v: DatabaseValue) -> SQLValue {
        switch v.storage {
        case .null: .null
        case .int64(let i): .integer(i)
        case .double(let d): .real(d)
        case .string(let s): .text(s)
        case .blob(let b): .blob(b)
        }
    }

    /// Sorts a GRDB error into `SQLError`; other errors (the row code's) become `.other`
    /// with their description. The message is SQLite's code and message, never bound
    /// values (GRDB keeps statement arguments out of its messages by default).
    package static func map(_ error: any Error) -> SQLError {
        if let e = error as? SQLError { return e }
        guard let e = error as? DatabaseError else { return SQLError(kind: .other, message: "\(error)") }
        return SQLError(kind: kind(e.resultCode), message: "\(name(e.resultCode)): \(e.message ?? "")")
    }

    /// SQLite's name for a primary result code ("SQLITE_FULL"), or its number.
    package static func name(_ code: ResultCode) -> String {
        let names: [Int32: String] = [
            1: "ERROR", 2: "INTERNAL", 3: "PERM", 4: "ABORT", 5: "BUSY", 6: "LOCKED", 7: "NOMEM", 8: "READONLY",
            9: "INTERRUPT", 10: "IOERR", 11: "CORRUPT", 12: "NOTFOUND", 13: "FULL", 14: "CANTOPEN", 15: "PROTOCOL",
            16: "EMPTY", 17: "SCHEMA", 18: "TOOBIG", 19: "CONSTRAINT", 20: "MISMATCH", 21: "MISUSE", 22: "NOLFS",
            23: "AUTH", 24: "FORMAT", 25: "RANGE", 26: "NOTADB", 27: "NOTICE", 28: "WARNING",
        ]
        let primary = code.primaryResultCode.rawValue
        return names[primary].map { "SQLITE_" + $0 } ?? "SQLite result \(primary)"
    }

    /// `kind` of a raw SQLite result code (primary or extended).
    package static func kind(code: Int32) -> SQLError.Kind {
        kind(ResultCode(rawValue: code))
    }

    package static func kind(_ code: ResultCode) -> SQLError.Kind {
        switch code.primaryResultCode {
        case .SQLITE_FULL, .SQLITE_IOERR, .SQLITE_BUSY, .SQLITE_LOCKED, .SQLITE_READONLY, .SQLITE_CANTOPEN, .SQLITE_NOMEM:
            .unavailable
        case .SQLITE_CONSTRAINT: .constraint
        case .SQLITE_CORRUPT, .SQLITE_NOTADB: .corrupt
        default: .other
        }
    }
}
