package import Foundation

/// A value bound to or read from a statement; the same on SQLite and PostgreSQL.
/// Booleans are integers 0/1 on both engines (the PostgreSQL schema uses BIGINT for them),
/// timestamps are TEXT in the store's own format, blobs are BLOB / BYTEA.
package enum SQLValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob(Data)

    /// The value's type as an engine would name it (for error messages; never the value).
    package var typeName: String {
        switch self {
        case .null: "NULL"
        case .integer: "integer"
        case .real: "real"
        case .text: "text"
        case .blob: "blob"
        }
    }
}

/// A Swift type a column can be read as and an argument can be bound from.
package protocol SQLValueConvertible: Sendable {
    var sqlValue: SQLValue { get }
    /// nil when the value is NULL or of another type (no silent conversion between text and
    /// integers; an integer column read as Bool is 0 → false, anything else → true).
    static func fromSQL(_ value: SQLValue) -> Self?
}

extension Int64: SQLValueConvertible {
    package var sqlValue: SQLValue { .integer(self) }
    package static func fromSQL(_ value: SQLValue) -> Int64? {
        if case .integer(let v) = value { return v }
        return nil
    }
}

extension Int: SQLValueConvertible {
    package var sqlValue: SQLValue { .integer(Int64(self)) }
    package static func fromSQL(_ value: SQLValue) -> Int? {
        if case .integer(let v) = value { return Int(exactly: v) }
        return nil
    }
}

extension Int32: SQLValueConvertible {
    package var sqlValue: SQLValue { .integer(Int64(self)) }
    /// nil for an integer outside Int32's range too.
    package static func fromSQL(_ value: SQLValue) -> Int32? {
        if case .integer(let v) = value { return Int32(exactly: v) }
        return nil
    }
}

extension Bool: SQLValueConvertible {
    package var sqlValue: SQLValue { .integer(self ? 1 : 0) }
    package static func fromSQL(_ value: SQLValue) -> Bool? {
        if case .integer(let v) = value { return v != 0 }
        return nil
    }
}

extension Double: SQLValueConvertible {
    package var sqlValue: SQLValue { .real(self) }
    /// An integer column reads as a Double too (numbers widen; text never converts).
    package static func fromSQL(_ value: SQLValue) -> Double? {
        switch value {
        case .real(let v): v
        case .integer(let v): Double(v)
        default: nil
        }
    }
}

extension String: SQLValueConvertible {
    package var sqlValue: SQLValue { .text(self) }
    package static func fromSQL(_ value: SQLValue) -> String? {
        if case .text(let v) = value { return v }
        return nil
    }
}

extension Data: SQLValueConvertible {
    package var sqlValue: SQLValue { .blob(self) }
    package static func fromSQL(_ value: SQLValue) -> Data? {
        if case .blob(let v) = value { return v }
        return nil
    }
}

extension SQLValue: SQLValueConvertible {
    /// A column read as `SQLValue` is the value itself, NULL included.
    package var sqlValue: SQLValue { self }
    package static func fromSQL(_ value: SQLValue) -> SQLValue? { value }
}

extension Optional: SQLValueConvertible where Wrapped: SQLValueConvertible {
    /// `nil` binds NULL.
    package var sqlValue: SQLValue { self?.sqlValue ?? .null }
    /// NULL reads as `.some(nil)`; a value of another type as nil.
    package static func fromSQL(_ value: SQLValue) -> Wrapped?? {
        if case .null = value { return .some(nil) }
        return Wrapped.fromSQL(value).map { .some($0) }
    }
}

/// Statement arguments: `[name, id, Data(mac), flag]`, `nil` for NULL.
package struct SQLArguments: Sendable, ExpressibleByArrayLiteral {
    package var values: [SQLValue]

    package init(_ values: [SQLValue]) {
        self.values = values
    }

    package init(arrayLiteral elements: (any SQLValueConvertible)?...) {
        values = elements.map { $0?.sqlValue ?? .null }
    }

    /// Appends one argument (for statements whose placeholders are built up, `IN (?, ?, …)`).
    package mutating func append(_ value: (any SQLValueConvertible)?) {
        values.append(value?.sqlValue ?? .null)
    }

    package static func + (lhs: SQLArguments, rhs: SQLArguments) -> SQLArguments {
        SQLArguments(lhs.values + rhs.values)
    }
}
