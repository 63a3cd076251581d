/// One result row, columns by name (as the SELECT names them) or by index.
///
/// A row holds copies of its values; it outlives the statement that read it.
package struct SQLRow: Sendable {
    package let columns: [String]
    package let values: [SQLValue]

    package init(columns: [String], values: [SQLValue]) {
        precondition(columns.count == values.count, "a row has one value per column")
        self.columns = columns
        self.values = values
    }

    /// The index of the first column named `column` (case-insensitively, as both engines
    /// compare unquoted names), or nil.
    package func index(of column: String) -> Int? {
        if let i = columns.firstIndex(of: column) { return i }
        let lower = column.lowercased()
        return columns.firstIndex { $0.lowercased() == lower }
    }

    /// The column's value; traps when the column is missing or NULL or of another type,
    /// as GRDB's `row["x"]` does for a non-optional (row code reads columns the schema
    /// declares NOT NULL this way; everything nullable is read as an optional).
    ///
    /// Read as an optional (`row["x"] as String?`, `T` is then `Optional`), a NULL or
    /// missing column is nil and a value of another type still traps: a schema mismatch is
    /// never silently read as absent.
    package subscript<T: SQLValueConvertible>(_ column: String) -> T {
        named(column)
    }

    /// The same as the non-optional subscript read as an optional (which the compiler
    /// prefers: `Optional` is itself `SQLValueConvertible`).
    @_disfavoredOverload
    package subscript<T: SQLValueConvertible>(_ column: String) -> T? {
        named(column) as T?
    }

    package subscript<T: SQLValueConvertible>(_ index: Int) -> T {
        at(index)
    }

    @_disfavoredOverload
    package subscript<T: SQLValueConvertible>(_ index: Int) -> T? {
        at(index) as T?
    }

    /// The column's raw value; `.null` when it is missing.
    package func value(_ column: String) -> SQLValue {
        guard let i = index(of: column) else { return .null }
        return values[i]
    }

    private func named<T: SQLValueConvertible>(_ column: String) -> T {
        guard let i = index(of: column) else {
            guard let absent = T.fromSQL(.null) else { fatalError("SQLRow: no column '\(column)' in \(columns)") }
            return absent
        }
        return Self.convert(values[i], column: column)
    }

    private func at<T: SQLValueConvertible>(_ index: Int) -> T {
        guard values.indices.contains(index) else {
            guard let absent = T.fromSQL(.null) else { fatalError("SQLRow: no column \(index) in \(columns)") }
            return absent
        }
        return Self.convert(values[index], column: "#\(index)")
    }

    private static func convert<T: SQLValueConvertible>(_ value: SQLValue, column: String) -> T {
        guard let v = T.fromSQL(value) else {
            fatalError("SQLRow: column \(column) is \(value.typeName), not \(T.self)")
        }
        return v
    }
}
