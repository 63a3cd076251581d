import LatchkeyStore
import Foundation
import NIOCore
import PostgresNIO

/// SQLValue ↔ PostgreSQL's wire values. The store's columns are BIGINT, TEXT, BYTEA (and
/// DOUBLE PRECISION where SQLite had REAL); arguments are sent typed and in binary (int8,
/// float8, text, bytea; NULL untyped, so the server takes the column's type), and results
/// come back in binary. A boolean result (a comparison in a SELECT) reads as 0/1, like
/// SQLite's; an aggregate's NUMERIC (`sum(bigint)`) as an integer when it is whole.
enum PostgresValues {
    static func bindings(_ arguments: SQLArguments) -> PostgresBindings {
        var b = PostgresBindings(capacity: arguments.values.count)
        for v in arguments.values {
            switch v {
            case .null: b.appendNull()
            case .integer(let i): b.append(i)
            case .real(let d): b.append(d)
            case .text(let s): b.append(s)
            case .blob(let d): b.append(ByteBuffer(bytes: d))
            }
        }
        return b
    }

    /// One result row as the engine-neutral row (columns named as the SELECT names them).
    static func row(_ row: PostgresRow) throws(SQLError) -> SQLRow {
        var columns: [String] = []
        var values: [SQLValue] = []
        columns.reserveCapacity(row.count)
        values.reserveCapacity(row.count)
        for cell in row {
            columns.append(cell.columnName)
            values.append(try value(cell))
        }
        return SQLRow(columns: columns, values: values)
    }

    static func value(_ cell: PostgresCell) throws(SQLError) -> SQLValue {
        guard cell.bytes != nil else { return .null }
        do {
            switch cell.dataType {
            case .int8, .int4, .int2:
                return .integer(try cell.decode(Int64.self))
            case .bool:
                return .integer(try cell.decode(Bool.self) ? 1 : 0)
            case .float8, .float4:
                return .real(try cell.decode(Double.self))
            case .text, .varchar, .bpchar, .name:
                return .text(try cell.decode(String.self))
            case .bytea:
                var buffer = try cell.decode(ByteBuffer.self)
                return .blob(buffer.readData(length: buffer.readableBytes) ?? Data())
            case .numeric:
                let decimal = try cell.decode(Decimal.self)
                if decimal == decimal.rounded(), let i = Int64(exactly: NSDecimalNumber(decimal: decimal).int64Value),
                    Decimal(i) == decimal
                {
                    return .integer(i)
                }
                return .real(NSDecimalNumber(decimal: decimal).doubleValue)
            default:
                throw SQLError(
                    kind: .other,
                    message: "column \(cell.columnName) has PostgreSQL type \(cell.dataType), which the store does not use (BIGINT, TEXT, BYTEA, DOUBLE PRECISION)")
            }
        } catch let e as SQLError {
            throw e
        } catch {
            throw SQLError(kind: .other, message: "column \(cell.columnName) of type \(cell.dataType) could not be read")
        }
    }
}

extension Decimal {
    fileprivate func rounded() -> Decimal {
        var source = self
        var result = Decimal()
        NSDecimalRound(&result, &source, 0, .plain)
        return result
    }
}
