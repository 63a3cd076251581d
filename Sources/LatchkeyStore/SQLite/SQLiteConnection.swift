package import GRDB
import GRDBSQLite
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
            if arguments.values.isEmpty {
                // Transaction control and PRAGMAs go through GRDB, which follows them.
                try statement.execute()
            } else {
                try run(statement, arguments) { _ in true }
            }
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
            try run(statement, arguments) { s in
                var values: [SQLValue] = []
                values.reserveCapacity(columns.count)
                for i in 0..<Int32(columns.count) { values.append(Self.column(s, i)) }
                do { return try body(SQLRow(columns: columns, values: values)) } catch { throw BodyError(error: error) }
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

    /// Binds `arguments` to GRDB's prepared statement and steps it through SQLite's C API,
    /// calling `row` for each row until it returns false; the bindings are cleared after.
    /// (GRDB's own path converts every value again, into its `StatementArguments`, and each
    /// row into a `Row`: about 7% of a build cycle's CPU in the profile.) Values are bound
    /// and read as GRDB binds and reads them, so both paths see the same rows.
    private func run(_ statement: Statement, _ arguments: SQLArguments, row: (SQLiteStatement) throws -> Bool) throws {
        let s = statement.sqliteStatement
        sqlite3_reset(s)
        defer {
            sqlite3_reset(s)
            sqlite3_clear_bindings(s)
        }
        guard sqlite3_bind_parameter_count(s) == Int32(arguments.values.count) else {
            throw DatabaseError(
                resultCode: .SQLITE_MISUSE, message: "wrong number of statement arguments: \(arguments.values.count)", sql: statement.sql)
        }
        for (i, value) in arguments.values.enumerated() {
            let code = Self.bind(value, to: s, at: Int32(i + 1))
            guard code == SQLITE_OK else { throw failure(code, statement) }
        }
        while true {
            switch sqlite3_step(s) {
            case SQLITE_DONE: return
            case SQLITE_ROW: if try !row(s) { return }
            case let code: throw failure(code, statement)
            }
        }
    }

    private func failure(_ code: Int32, _ statement: Statement) -> DatabaseError {
        DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(database.sqliteConnection)), sql: statement.sql)
    }

    /// A value bound as GRDB binds it (text up to a NUL, an empty blob's NULL pointer).
    private static func bind(_ value: SQLValue, to s: SQLiteStatement, at index: Int32) -> Int32 {
        switch value {
        case .null: sqlite3_bind_null(s, index)
        case .integer(let i): sqlite3_bind_int64(s, index, i)
        case .real(let d): sqlite3_bind_double(s, index, d)
        case .text(let t): sqlite3_bind_text(s, index, t, -1, transient)
        case .blob(let b): b.withUnsafeBytes { sqlite3_bind_blob(s, index, $0.baseAddress, Int32($0.count), transient) }
        }
    }

    /// A column read as GRDB reads it into a `DatabaseValue`.
    private static func column(_ s: SQLiteStatement, _ i: Int32) -> SQLValue {
        switch sqlite3_column_type(s, i) {
        case SQLITE_INTEGER: .integer(sqlite3_column_int64(s, i))
        case SQLITE_FLOAT: .real(sqlite3_column_double(s, i))
        case SQLITE_TEXT: .text(String(cString: sqlite3_column_text(s, i)))
        case SQLITE_BLOB:
            if let bytes = sqlite3_column_blob(s, i) { .blob(Data(bytes: bytes, count: Int(sqlite3_column_bytes(s, i)))) } else { .blob(Data()) }
        default: .null
        }
    }

    /// SQLite copies what is bound with this destructor.
    private static let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

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
