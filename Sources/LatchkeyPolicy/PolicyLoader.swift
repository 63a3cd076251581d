internal import Yams
import Foundation

/// Reads a policy directory strictly. Every error names its file, line and reason.
struct PolicyLoader {
    static let maxFileBytes = 1 << 20
    static let maxRules = 1000
    static let maxUses = 1_000_000

    let daemonUID: UInt32
    let resolver: any IdentityResolver

    init(daemonUID: UInt32, resolver: some IdentityResolver) {
        self.daemonUID = daemonUID
        self.resolver = resolver
    }

    func load(directory: String) throws(PolicyError) -> Policy {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw PolicyError(file: directory, code: "policy_files", "cannot read the policy directory: \(error.localizedDescription)")
        }
        let files = names.filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.filter { !$0.hasPrefix(".") }.sorted()
            .map { (directory as NSString).appendingPathComponent($0) }
        guard !files.isEmpty else {
            throw PolicyError(file: directory, code: "policy_files", "no policy files (*.yaml, *.yml): deny-all is not a policy; add one (see Policies/README.md)")
        }
        var admins = IdentitySet()
        var auditors = IdentitySet()
        var runners: [RunnerRule] = []
        for file in files {
            let doc = try parse(file)
            admins.formUnion(doc.admins)
            auditors.formUnion(doc.auditors)
            runners += doc.runners
            guard runners.count <= Self.maxRules else {
                throw PolicyError(file: file, code: "policy_too_large", "more than \(Self.maxRules) runner rules")
            }
        }
        try checkConflicts(runners)
        return Policy(admins: admins, auditors: auditors, runners: runners, files: files)
    }

    struct Document {
        var admins = IdentitySet()
        var auditors = IdentitySet()
        var runners: [RunnerRule] = []
    }

    func parse(_ file: String) throws(PolicyError) -> Document {
        var st = stat()
        guard stat(file, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            throw PolicyError(file: file, code: "policy_files", "not a regular file")
        }
        guard st.st_mode & 0o022 == 0 else {
            throw PolicyError(file: file, code: "policy_permissions",
                "others can write this policy file (mode \(String(st.st_mode & 0o777, radix: 8))); run `chmod go-w \(file)`")
        }
        guard st.st_size <= Self.maxFileBytes else {
            throw PolicyError(file: file, code: "policy_too_large", "the file is over \(Self.maxFileBytes / 1024) KiB")
        }
        guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8) else {
            throw PolicyError(file: file, code: "policy_syntax", "the file is not readable UTF-8 text")
        }
        if let line = Self.anchorOrAlias(in: text) {
            throw PolicyError(file: file, line: line, code: "policy_syntax",
                "YAML anchors and aliases (&name, *name) are not allowed in policy files (they can expand without bound); write the values out")
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw Self.syntaxError(file, error)
        }
        guard let root else { throw PolicyError(file: file, line: 1, code: "policy_value", "the file is empty; it needs at least `version: 1`") }
        let ctx = Context(file: file)
        let top = try ctx.mapping(root, "the document", allowed: ["version", "admins", "auditors", "runners"])
        guard let version = top["version"] else {
            throw ctx.error(root, "policy_value", "missing `version: 1`")
        }
        guard try ctx.integer(version, "version") == 1 else {
            throw ctx.error(version, "policy_value", "unsupported version; this latchkey reads `version: 1`")
        }
        var doc = Document()
        if let a = top["admins"] { doc.admins = try identities(a, "admins", ctx) }
        if let a = top["auditors"] { doc.auditors = try identities(a, "auditors", ctx) }
        if let r = top["runners"] {
            for (i, node) in try ctx.sequence(r, "runners").enumerated() {
                doc.runners.append(try runner(node, "runners[\(i)]", ctx))
            }
        }
        return doc
    }

    func runner(_ node: Node, _ path: String, _ ctx: Context) throws(PolicyError) -> RunnerRule {
        let m = try ctx.mapping(node, path, allowed: ["name", "who", "projects", "grants", "max_ttl", "max_uses", "builds"])
        func required(_ key: String) throws(PolicyError) -> Node {
            guard let v = m[key] else { throw ctx.error(node, "policy_value", "\(path) needs `\(key)`") }
            return v
        }
        let nameNode = try required("name")
        let name = try ctx.string(nameNode, "\(path).name")
        guard !name.isEmpty, name.utf8.count <= 64 else { throw ctx.error(nameNode, "policy_value", "\(path).name must be 1–64 characters") }
        let who = try identities(try required("who"), "\(path).who", ctx)
        var projects: [Glob] = []
        let projectNodes = try ctx.sequence(try required("projects"), "\(path).projects")
        guard !projectNodes.isEmpty else { throw ctx.error(m["projects"]!, "policy_value", "\(path).projects is empty: name at least one project glob") }
        for p in projectNodes {
            do {
                projects.append(try Glob(try ctx.string(p, "\(path).projects")))
            } catch let e as PolicyError {
                throw e
            } catch {
                throw ctx.error(p, "policy_glob", "\(path).projects: \(error)")
            }
        }
        var grants = Set<Grant>()
        let grantNodes = try ctx.sequence(try required("grants"), "\(path).grants")
        guard !grantNodes.isEmpty else { throw ctx.error(m["grants"]!, "policy_value", "\(path).grants is empty") }
        for g in grantNodes {
            let text = try ctx.string(g, "\(path).grants")
            guard let grant = Grant(rawValue: text) else {
                throw ctx.error(g, "policy_value", "unknown grant '\(text)' in \(path).grants (allowed: deploy-key, token)")
            }
            grants.insert(grant)
        }
        let ttlNode = try required("max_ttl")
        let ttlText = try ctx.string(ttlNode, "\(path).max_ttl")
        guard let ttl = PolicyDuration.parse(ttlText), ttl > .zero else {
            throw ctx.error(ttlNode, "policy_duration", "\(path).max_ttl '\(ttlText)' is not a duration like 90s, 10m or 1h30m (at most 30 days)")
        }
        let usesNode = try required("max_uses")
        let uses = try ctx.integer(usesNode, "\(path).max_uses")
        guard (1...Self.maxUses).contains(uses) else {
            throw ctx.error(usesNode, "policy_value", "\(path).max_uses must be between 1 and \(Self.maxUses)")
        }
        let builds = try identities(try required("builds"), "\(path).builds", ctx)
        return RunnerRule(
            name: name, who: who, projects: projects, grants: grants, maxTTL: ttl, maxUses: uses, builds: builds,
            origin: "\(ctx.file):\(node.mark?.line ?? 0)")
    }

    func identities(_ node: Node, _ path: String, _ ctx: Context) throws(PolicyError) -> IdentitySet {
        let m = try ctx.mapping(node, path, allowed: ["users", "groups", "uids"])
        var uids = Set<UInt32>()
        var gids = Set<UInt32>()
        if let users = m["users"] {
            for u in try ctx.sequence(users, "\(path).users") {
                let name = try ctx.string(u, "\(path).users")
                if name == "$daemon" {
                    uids.insert(daemonUID)
                } else if let user = resolver.user(named: name) {
                    uids.insert(user.uid)
                } else {
                    throw ctx.error(u, "policy_unknown_user", "unknown user '\(name)' in \(path).users (create it, or fix the name)")
                }
            }
        }
        if let groups = m["groups"] {
            for g in try ctx.sequence(groups, "\(path).groups") {
                let name = try ctx.string(g, "\(path).groups")
                guard let group = resolver.group(named: name) else {
                    throw ctx.error(g, "policy_unknown_group", "unknown group '\(name)' in \(path).groups (create it, or fix the name)")
                }
                gids.insert(group.gid)
                uids.formUnion(group.members)
            }
        }
        if let list = m["uids"] {
            for u in try ctx.sequence(list, "\(path).uids") {
                let v = try ctx.integer(u, "\(path).uids")
                guard (0..<Int(UInt32.max)).contains(v) else { throw ctx.error(u, "policy_value", "\(path).uids: \(v) is not a uid") }
                uids.insert(UInt32(v))
            }
        }
        let set = IdentitySet(uids: uids, gids: gids)
        guard !set.isEmpty else { throw ctx.error(node, "policy_value", "\(path) names nobody: give users, groups or uids") }
        return set
    }

    /// Two rules contradict when one identity could open a session for one project under
    /// both (caps and build users would be ambiguous), or when they share a name.
    func checkConflicts(_ rules: [RunnerRule]) throws(PolicyError) {
        for (i, a) in rules.enumerated() {
            for b in rules[(i + 1)...] {
                let file = String(b.origin.split(separator: ":").first ?? "")
                let line = Int(b.origin.split(separator: ":").last ?? "")
                if a.name == b.name {
                    throw PolicyError(file: file, line: line, code: "policy_conflict", "runner rule name '\(b.name)' is also used at \(a.origin)")
                }
                guard a.who.intersects(b.who) else { continue }
                for ga in a.projects {
                    for gb in b.projects where ga.mayOverlap(gb) {
                        throw PolicyError(file: file, line: line, code: "policy_conflict",
                            "runner rules '\(a.name)' (\(a.origin)) and '\(b.name)' name the same runner for overlapping projects '\(ga)' and '\(gb)'; make the globs disjoint or merge the rules")
                    }
                }
            }
        }
    }

    /// The line of the first YAML anchor (`&a`) or alias (`*a`) outside quotes and
    /// comments, found before the parser could expand it ("billion laughs").
    static func anchorOrAlias(in text: String) -> Int? {
        var line = 1
        var quote: UInt8?
        var comment = false
        var previous: UInt8 = 10
        let bytes = Array(text.utf8)
        for (i, c) in bytes.enumerated() {
            defer { previous = c }
            if c == 10 {
                line += 1
                comment = false
                quote = nil
                continue
            }
            if comment { continue }
            if let q = quote {
                if c == q { quote = nil }
                continue
            }
            switch c {
            case UInt8(ascii: "\""), UInt8(ascii: "'"): quote = c
            case UInt8(ascii: "#") where previous == 32 || previous == 9 || previous == 10: comment = true
            case UInt8(ascii: "&"), UInt8(ascii: "*"):
                let startsToken = [32, 9, 10, UInt8(ascii: "["), UInt8(ascii: "{"), UInt8(ascii: ","), UInt8(ascii: ":")].contains(previous)
                if startsToken, i + 1 < bytes.count, Names.isAnchorCharacter(bytes[i + 1]) { return line }
            default: break
            }
        }
        return nil
    }

    static func syntaxError(_ file: String, _ error: any Error) -> PolicyError {
        if let y = error as? YamlError {
            switch y {
            case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _):
                return PolicyError(file: file, line: mark.line, column: mark.column, code: "policy_syntax", "bad YAML: \(problem)")
            case .duplicatedKeysInMapping(let duplicates, let context):
                return PolicyError(file: file, line: context.mark.line, code: "policy_syntax", "duplicate keys: \(duplicates.joined(separator: ", "))")
            default: break
            }
        }
        return PolicyError(file: file, code: "policy_syntax", "bad YAML: \(error)")
    }
}

/// Typed access to YAML nodes with errors at their line.
struct Context {
    let file: String

    func error(_ node: Node, _ code: String, _ reason: String) -> PolicyError {
        PolicyError(file: file, line: node.mark?.line, column: node.mark?.column, code: code, reason)
    }

    func mapping(_ node: Node, _ path: String, allowed: [String]) throws(PolicyError) -> [String: Node] {
        guard case .mapping(let m) = node else { throw error(node, "policy_type", "\(path) must be a mapping (key: value)") }
        var out: [String: Node] = [:]
        for (k, v) in m {
            guard case .scalar(let s) = k else { throw error(k, "policy_type", "\(path) has a key that is not text") }
            guard allowed.contains(s.string) else {
                throw error(k, "policy_unknown_key", "unknown key '\(s.string)' in \(path) (allowed: \(allowed.joined(separator: ", ")))")
            }
            guard out[s.string] == nil else { throw error(k, "policy_syntax", "duplicate key '\(s.string)' in \(path)") }
            out[s.string] = v
        }
        return out
    }

    func sequence(_ node: Node, _ path: String) throws(PolicyError) -> [Node] {
        guard case .sequence(let s) = node else { throw error(node, "policy_type", "\(path) must be a list ([a, b] or '- a' lines)") }
        return Array(s)
    }

    func string(_ node: Node, _ path: String) throws(PolicyError) -> String {
        guard case .scalar(let s) = node, s.tag.description != "tag:yaml.org,2002:null" else {
            throw error(node, "policy_type", "\(path) must be text")
        }
        return s.string
    }

    func integer(_ node: Node, _ path: String) throws(PolicyError) -> Int {
        guard case .scalar(let s) = node, s.style == .plain, let v = Int(s.string) else {
            throw error(node, "policy_type", "\(path) must be a whole number")
        }
        return v
    }
}

enum Names {
    static func isAnchorCharacter(_ c: UInt8) -> Bool {
        (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 95 || c == 45
    }
}
