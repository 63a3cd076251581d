/// A policy that cannot be used, with where and why. Its description reads
/// `Policies/ci.yaml:12:5: unknown key 'grnats' in runners[0] (allowed: …)`.
public struct PolicyError: Error, Sendable, CustomStringConvertible, Equatable {
    public var file: String
    public var line: Int?
    public var column: Int?
    public var reason: String
    /// Stable: `policy_syntax`, `policy_unknown_key`, `policy_type`, `policy_unknown_user`,
    /// `policy_unknown_group`, `policy_duration`, `policy_value`, `policy_glob`,
    /// `policy_conflict`, `policy_files`, `policy_permissions`, `policy_too_large`.
    public var code: String

    public init(file: String, line: Int? = nil, column: Int? = nil, code: String, _ reason: String) {
        self.file = file
        self.line = line
        self.column = column
        self.code = code
        self.reason = reason
    }

    public var description: String {
        var at = file
        if let line { at += ":\(line)" }
        if let column { at += ":\(column)" }
        return "\(at): \(reason)"
    }
}
