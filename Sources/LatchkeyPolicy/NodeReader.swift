import Yams

/// Reads a composed YAML tree strictly: every mapping's keys are checked against the
/// allowed ones, every value's kind against the expected one, and every error carries
/// the file, line and column of the node at fault.
///
/// Scalars are typed by YAML's own resolution, so `max_uses: "10"` (a quoted string)
/// is not a number and `users: [no]` (a YAML 1.1 boolean) is not a name: the message
/// says what was found and how to write what was meant.
struct NodeReader {
    let file: String

    func location(_ node: Node) -> SourceLocation {
        let mark = node.mark
        return SourceLocation(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1)
    }

    func error(_ code: PolicyError.Code, at node: Node, _ reason: String) -> PolicyError {
        PolicyError(code, at: location(node), reason)
    }

    /// A mapping whose keys are all in `allowed`.
    func mapping(_ node: Node, _ what: String, allowed: [String]) throws(PolicyError) -> Fields {
        try refuseAnchor(node)
        guard case .mapping(let mapping) = node else {
            throw error(.wrongType, at: node, "\(what) must be a mapping (key: value lines or { ... }), found \(kind(of: node))")
        }
        var fields: [String: (key: Node, value: Node)] = [:]
        for (key, value) in mapping {
            try refuseAnchor(key)
            guard case .scalar(let scalar) = key, key.resolvedTag == .str else {
                throw error(.wrongType, at: key, "keys in \(what) are plain words, found \(kind(of: key))")
            }
            guard allowed.contains(scalar.string) else {
                var reason = "unknown key \(quoted(scalar.string)) in \(what) (allowed: \(allowed.joined(separator: ", ")))"
                if let suggestion = closest(to: scalar.string, in: allowed) { reason += "; did you mean '\(suggestion)'?" }
                throw error(.unknownKey, at: key, reason)
            }
            fields[scalar.string] = (key, value)
        }
        return Fields(node: node, what: what, byKey: fields, reader: self)
    }

    /// A non-empty list of at most `limit` entries.
    func list(_ node: Node, _ what: String, example: String, limit: Int = PolicyLimits.maxListEntries) throws(PolicyError) -> [Node] {
        try refuseAnchor(node)
        guard case .sequence(let sequence) = node else {
            throw error(.wrongType, at: node, "\(what) must be a list (\(example)), found \(kind(of: node))")
        }
        guard !sequence.isEmpty else {
            throw error(.emptyList, at: node, "\(what) is empty; list at least one entry (\(example))")
        }
        guard sequence.count <= limit else {
            throw error(.tooLarge, at: node, "\(what) has \(sequence.count) entries; at most \(limit) are allowed")
        }
        return Array(sequence)
    }

    /// A string scalar (plain or quoted), not a number, boolean, null or date.
    func string(_ node: Node, _ what: String) throws(PolicyError) -> String {
        try refuseAnchor(node)
        guard case .scalar(let scalar) = node, node.resolvedTag == .str else {
            var reason = "\(what) must be a string, found \(kind(of: node))"
            if case .scalar(let scalar) = node { reason += "; if you mean the text, quote it: \"\(scalar.string)\"" }
            throw error(.wrongType, at: node, reason)
        }
        return scalar.string
    }

    /// A plain decimal integer.
    func integer(_ node: Node, _ what: String) throws(PolicyError) -> Int {
        try refuseAnchor(node)
        guard case .scalar(let scalar) = node, node.resolvedTag == .int else {
            throw error(.wrongType, at: node, "\(what) must be a whole number, found \(kind(of: node))")
        }
        let text = scalar.string
        let digits = text.hasPrefix("-") || text.hasPrefix("+") ? text.dropFirst() : Substring(text)
        guard !digits.isEmpty, digits.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else {
            throw error(.wrongType, at: node, "\(what) must be written as a decimal number, found \(quoted(text))")
        }
        guard let value = Int(text) else { throw error(.tooLarge, at: node, "\(what) \(quoted(text)) is out of range") }
        return value
    }

    /// Anchors are refused before parsing (`AliasScan`); this catches any the scan's
    /// crude rules did not, on the tree.
    private func refuseAnchor(_ node: Node) throws(PolicyError) {
        if node.anchor != nil {
            throw error(.badYAML, at: node, "anchors and aliases (&name, *name) are not supported in policy files; write the value out")
        }
    }

    func kind(of node: Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .scalar(let scalar):
            switch node.resolvedTag {
            case .str: return "the string \(quoted(scalar.string))"
            case .int: return "the number \(scalar.string)"
            case .float: return "the number \(scalar.string)"
            case .bool: return "the boolean \(scalar.string)"
            case .null: return scalar.string.isEmpty ? "nothing" : "null (\(scalar.string))"
            case .timestamp: return "the date \(scalar.string)"
            default: return "a value tagged \(quoted(node.resolvedTag.rawValue))"
            }
        }
    }

    /// The allowed key nearest to a misspelt one (edit distance at most 2), if any.
    private func closest(to word: String, in candidates: [String]) -> String? {
        let w = Array(word.utf8.prefix(64))
        var best: (name: String, distance: Int)?
        for candidate in candidates {
            let c = Array(candidate.utf8)
            var row = Array(0...c.count)
            for (i, x) in w.enumerated() {
                var previous = row[0]
                row[0] = i + 1
                for (j, y) in c.enumerated() {
                    let substitution = previous + (x == y ? 0 : 1)
                    previous = row[j + 1]
                    row[j + 1] = min(substitution, row[j] + 1, row[j + 1] + 1)
                }
            }
            if let d = row.last, d <= 2, d < (best?.distance ?? .max) { best = (candidate, d) }
        }
        return best?.name
    }
}

extension Node {
    /// The node's tag after YAML's implicit resolution (`!!str`, `!!int`, `!!bool`, ...).
    var resolvedTag: Tag.Name { Tag.Name(rawValue: tag.rawValue) }
}

/// The checked keys of one mapping.
struct Fields {
    let node: Node
    /// What the mapping is, for messages ("a runner rule", then "runner rule 'x'" once its name is known).
    var what: String
    let byKey: [String: (key: Node, value: Node)]
    let reader: NodeReader

    func optional(_ key: String) -> Node? { byKey[key]?.value }

    func required(_ key: String, hint: String? = nil) throws(PolicyError) -> Node {
        guard let value = byKey[key]?.value else {
            throw reader.error(.missingKey, at: node, "\(what) has no '\(key)'" + (hint.map { "; \($0)" } ?? ""))
        }
        return value
    }
}
