import Yams

/// One policy file, parsed and checked against the format but with names not yet
/// resolved: what `Policy.load` merges.
struct PolicyDocument {
    var admins: IdentityDeclaration?
    var auditors: IdentityDeclaration?
    var runners: [RunnerDeclaration] = []
    var webhookReceivers: [WebhookReceiverDeclaration] = []

    /// The only format version there is.
    static let version = 1

    static func parse(path: String, bytes: [UInt8]) throws(PolicyError) -> PolicyDocument {
        let text = try decodeUTF8(path: path, bytes: bytes)
        if let finding = AliasScan.firstAnchorOrAlias(in: bytes) {
            throw PolicyError(
                .badYAML, file: path, line: finding.line, column: finding.column,
                reason:
                    "\(quoted(finding.token)) reads as a YAML anchor or alias, which policy files do not use; quote globs that start with '*' (\"*-prod\"), and in a comment write it another way")
        }
        let parser: Parser
        let root: Node?
        do {
            parser = try Parser(yaml: text, resolver: .default, constructor: .default, encoding: .utf8)
            root = try parser.singleRoot()
        } catch {
            throw yamlError(error, path: path, bytes: bytes)
        }
        // Anchors are weak references owned by the parser: keep it alive while reading.
        defer { withExtendedLifetime(parser) {} }
        let reader = NodeReader(file: path)
        guard let root else {
            throw PolicyError(.missingKey, file: path, line: 1, column: 1, reason: "the file is empty; a policy file starts with 'version: 1'")
        }
        return try PolicyDocument(root: root, reader: reader)
    }

    private init(root: Node, reader: NodeReader) throws(PolicyError) {
        // The version first: a file in a newer format is reported as that, not as a list of unknown keys.
        if case .mapping(let mapping) = root, let version = mapping["version"] {
            let number = try reader.integer(version, "version")
            guard number == Self.version else {
                throw reader.error(
                    .unsupportedVersion, at: version, "version \(number) is not supported: this Latchkey reads policy version \(Self.version)")
            }
        }
        let top = try reader.mapping(root, "a policy file", allowed: ["version", "admins", "auditors", "runners", "webhook_receivers"])
        _ = try top.required("version", hint: "start the file with 'version: 1'")
        if let node = top.optional("admins") { admins = try Self.identities(node, "admins", reader) }
        if let node = top.optional("auditors") { auditors = try Self.identities(node, "auditors", reader) }
        if let node = top.optional("runners") {
            for entry in try reader.list(node, "runners", example: "one '- name: ...' entry per runner rule", limit: PolicyLimits.maxRunnerRules) {
                runners.append(try RunnerDeclaration(entry, reader))
            }
        }
        if let node = top.optional("webhook_receivers") {
            for entry in try reader.list(
                node, "webhook_receivers", example: "one '- name: ...' entry per receiver rule", limit: PolicyLimits.maxRunnerRules)
            {
                webhookReceivers.append(try WebhookReceiverDeclaration(entry, reader))
            }
        }
    }

    /// `{ users: [...], groups: [...], uids: [...] }`, at least one of them.
    static func identities(_ node: Node, _ what: String, _ reader: NodeReader) throws(PolicyError) -> IdentityDeclaration {
        let fields = try reader.mapping(node, what, allowed: ["users", "groups", "uids"])
        guard !fields.byKey.isEmpty else {
            throw reader.error(.missingKey, at: node, "\(what) names nobody; give at least one of users, groups, uids")
        }
        var declaration = IdentityDeclaration()
        if let list = fields.optional("users") {
            var seen = Set<String>()
            for entry in try reader.list(list, "\(what).users", example: "e.g. [ci-runner]") {
                if case .scalar(let scalar) = entry, entry.resolvedTag == .int {
                    throw reader.error(.wrongType, at: entry, "\(scalar.string) is a number, not a user name: list uids under 'uids'")
                }
                let name = try reader.string(entry, "a user name")
                if name.hasPrefix("$"), name != IdentityDeclaration.daemonUser {
                    throw reader.error(.unknownUser, at: entry, "unknown special user \(quoted(name)); the only one is $daemon, the user running the daemon")
                }
                guard seen.insert(name).inserted else {
                    throw reader.error(.duplicateEntry, at: entry, "user \(quoted(name)) is listed twice in \(what).users")
                }
                declaration.users.append(Located(value: name, location: reader.location(entry)))
            }
        }
        if let list = fields.optional("groups") {
            var seen = Set<String>()
            for entry in try reader.list(list, "\(what).groups", example: "e.g. [ci-admins]") {
                let name = try reader.string(entry, "a group name")
                if name == IdentityDeclaration.daemonUser {
                    throw reader.error(.unknownGroup, at: entry, "$daemon is a user: put it under users")
                }
                guard seen.insert(name).inserted else {
                    throw reader.error(.duplicateEntry, at: entry, "group \(quoted(name)) is listed twice in \(what).groups")
                }
                declaration.groups.append(Located(value: name, location: reader.location(entry)))
            }
        }
        if let list = fields.optional("uids") {
            var seen = Set<UInt32>()
            for entry in try reader.list(list, "\(what).uids", example: "e.g. [2001]") {
                let number = try reader.integer(entry, "a uid")
                // 4294967295 is (uid_t)-1, "no uid" to setreuid and chown.
                guard (0...Int(UInt32.max - 1)).contains(number) else {
                    throw reader.error(.badUID, at: entry, "uid \(number) is out of range (0...4294967294)")
                }
                guard seen.insert(UInt32(number)).inserted else {
                    throw reader.error(.duplicateEntry, at: entry, "uid \(number) is listed twice in \(what).uids")
                }
                declaration.uids.append(Located(value: UInt32(number), location: reader.location(entry)))
            }
        }
        return declaration
    }

    /// The text as UTF-8, or an error at the first line that is not.
    private static func decodeUTF8(path: String, bytes: [UInt8]) throws(PolicyError) -> String {
        if let text = String(validating: bytes, as: UTF8.self) { return text }
        var line = 1
        for chunk in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            if String(validating: chunk, as: UTF8.self) == nil { break }
            line += 1
        }
        throw PolicyError(.badYAML, file: path, line: line, reason: "not UTF-8 text; policy files are UTF-8")
    }

    private static func yamlError(_ error: any Error, path: String, bytes: [UInt8]) -> PolicyError {
        func problem(_ text: String, _ context: YamlError.Context?) -> String {
            let detail = context.map { "\(text) (\($0.text) at line \($0.mark.line))" } ?? text
            return "not valid YAML: \(detail)"
        }
        switch error as? YamlError {
        case .scanner(let context, let text, let mark, _), .parser(let context, let text, let mark, _),
            .composer(let context, let text, let mark, _):
            return PolicyError(.badYAML, file: path, line: mark.line, column: mark.column, reason: problem(text, context))
        case .reader(let text, let offset, _, _):
            let line = offset.map { 1 + bytes.prefix(max(0, $0)).count(where: { $0 == UInt8(ascii: "\n") }) }
            return PolicyError(.badYAML, file: path, line: line, reason: "not valid YAML: \(text)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.map(quoted).joined(separator: ", ")
            return PolicyError(
                .duplicateKey, file: path, line: context.mark.line, column: context.mark.column,
                reason: "key \(keys) appears more than once in the same mapping; write each key once")
        default:
            return PolicyError(.badYAML, file: path, reason: "not valid YAML")
        }
    }
}
