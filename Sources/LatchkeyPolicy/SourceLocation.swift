/// Where something was written: a file and a 1-based line and column.
struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    var file: String
    var line: Int
    var column: Int

    var description: String { "\(file):\(line)" }
}

/// A value with the place it was written, so a later check (an unknown user, a
/// conflict between rules) can point at the right line.
struct Located<Value> {
    var value: Value
    var location: SourceLocation
}

extension Located: Sendable where Value: Sendable {}
