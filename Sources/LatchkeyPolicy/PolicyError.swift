/// Why a policy directory was refused, and where.
///
/// Codes: `policy_dir_unreadable`, `policy_no_files`, `policy_unsafe_permissions`,
/// `policy_file_unreadable`, `policy_too_large`, `policy_bad_yaml`, `policy_duplicate_key`,
/// `policy_unknown_key`, `policy_missing_key`, `policy_wrong_type`,
/// `policy_unsupported_version`, `policy_empty_list`, `policy_duplicate_entry`,
/// `policy_unknown_user`, `policy_unknown_group`, `policy_bad_uid`, `policy_bad_duration`,
/// `policy_bad_cap`, `policy_unknown_grant`, `policy_bad_glob`, `policy_bad_name`,
/// `policy_duplicate_name`, `policy_conflicting_rules` (each documented on `Code`).
///
/// `description` reads like a compiler diagnostic, `Policies/ci.yaml:12: unknown key
/// 'grnats' (allowed: name, who, ...)`, so an operator can jump to the line. `code` is
/// stable: it goes into API answers and audit rows (a failed reload is audited with it).
/// It is a `String`, as `StoreError.code` is; the codes live in an internal enum, so new
/// ones can be added without breaking a caller's `switch`.
/// Messages quote what the file said (names, keys, globs: policy files hold no secrets),
/// escaped and shortened by `quoted(_:)`.
package struct PolicyError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The codes, listed once. Each is stable: it goes into API answers and audit rows;
    /// new ones may be added, existing ones never change meaning.
    enum Code: String, Sendable, CaseIterable {
        /// The directory is missing, not a directory, or cannot be listed.
        case directoryUnreadable = "policy_dir_unreadable"
        /// The directory holds no `*.yaml` / `*.yml` file.
        case noPolicyFiles = "policy_no_files"
        /// A file or the directory can be changed by someone other than root or the daemon's user.
        case unsafePermissions = "policy_unsafe_permissions"
        /// A file cannot be opened or read, or is not a regular file.
        case fileUnreadable = "policy_file_unreadable"
        /// A bound in `PolicyLimits` was exceeded (file size, files, rules, list entries).
        case tooLarge = "policy_too_large"
        /// Not UTF-8, not YAML, or YAML features policies do not use (anchors, aliases, several documents).
        case badYAML = "policy_bad_yaml"
        /// The same key twice in one mapping.
        case duplicateKey = "policy_duplicate_key"
        /// A key the format does not have at that level (the message suggests the nearest one).
        case unknownKey = "policy_unknown_key"
        /// A required key is absent (or the file is empty, or an identity set names nobody).
        case missingKey = "policy_missing_key"
        /// A value of the wrong kind: a string where a list belongs, a quoted number, ...
        case wrongType = "policy_wrong_type"
        /// `version` is not 1.
        case unsupportedVersion = "policy_unsupported_version"
        /// A list that must name at least one entry is empty.
        case emptyList = "policy_empty_list"
        /// The same entry twice in one list.
        case duplicateEntry = "policy_duplicate_entry"
        /// A user name the resolver does not know, or a `$name` other than `$daemon`.
        case unknownUser = "policy_unknown_user"
        /// A group name the resolver does not know.
        case unknownGroup = "policy_unknown_group"
        /// A uid outside 0...4294967294.
        case badUID = "policy_bad_uid"
        /// A `max_ttl` that is not a duration such as `30m` or `1h30m`.
        case badDuration = "policy_bad_duration"
        /// `max_ttl` or `max_uses` zero, negative or above the ceiling in `PolicyLimits`.
        case badCap = "policy_bad_cap"
        /// A grant other than `deploy-key`, `token`.
        case unknownGrant = "policy_unknown_grant"
        /// A `repo_token.permissions` entry that is no server's permission, scope or role.
        case badPermission = "policy_bad_permission"
        /// A project glob that does not compile (see `Glob`).
        case badGlob = "policy_bad_glob"
        /// A runner rule name that is not 1–64 of `A–Z a–z 0–9 . _ -`.
        case badName = "policy_bad_name"
        /// Two runner rules with the same name (across all files).
        case duplicateName = "policy_duplicate_name"
        /// Two runner rules that could both apply to one runner and one project.
        case conflictingRules = "policy_conflicting_rules"
    }

    /// Why, as a stable machine-readable code (`policy_unknown_key`, ...; see `Code`).
    package var code: String
    /// The file (directory path joined with the file name), or the directory itself when
    /// the problem is the directory.
    package var file: String
    /// 1-based line, when the problem has one.
    package var line: Int?
    /// 1-based column (in Unicode scalars), when known.
    package var column: Int?
    /// What is wrong and, where it helps, what to do.
    package var reason: String

    init(_ code: Code, file: String, line: Int? = nil, column: Int? = nil, reason: String) {
        self.code = code.rawValue
        self.file = file
        self.line = line
        self.column = column
        self.reason = reason
    }

    init(_ code: Code, at location: SourceLocation, _ reason: String) {
        self.init(code, file: location.file, line: location.line, column: location.column, reason: reason)
    }

    package var description: String {
        if let line { "\(file):\(line): \(reason)" } else { "\(file): \(reason)" }
    }
}

/// A value from a policy file shown back in a message: single-quoted, at most 64
/// characters, control characters escaped, so a hostile file cannot forge log lines.
func quoted(_ text: String) -> String {
    var out = ""
    var count = 0
    for scalar in text.unicodeScalars {
        if count == 64 {
            out += "…"
            break
        }
        if scalar.value < 0x20 || scalar.value == 0x7F || (0x80..<0xA0).contains(scalar.value) {
            out += "\\u{\(String(scalar.value, radix: 16))}"
        } else {
            out.unicodeScalars.append(scalar)
        }
        count += 1
    }
    return "'\(out)'"
}
