import Yams

/// One `runners:` entry as written, checked against the format; `Policy.load` resolves
/// its identities into a `RunnerRule`.
struct RunnerDeclaration {
    var name: Located<String>
    var location: SourceLocation
    var who: IdentityDeclaration
    var projects: [Glob]
    var grants: Set<Grant>
    var maxTTL: Duration
    var maxUses: Int
    var builds: IdentityDeclaration
    /// `repo_token:` — what minted repository tokens may carry (default: read-only).
    var repoToken: RepoTokenCaps = .readOnly

    static let keys = ["name", "who", "projects", "grants", "max_ttl", "max_uses", "builds", "repo_token"]

    init(_ node: Node, _ reader: NodeReader) throws(PolicyError) {
        var fields = try reader.mapping(node, "a runner rule", allowed: Self.keys)
        location = reader.location(node)

        let nameNode = try fields.required("name")
        let name = try reader.string(nameNode, "name")
        guard Self.isValidName(name) else {
            throw reader.error(
                .badName, at: nameNode,
                "runner rule name \(quoted(name)) is not allowed: use 1–\(PolicyLimits.maxNameBytes) letters, digits, '.', '_' or '-', starting with a letter or digit")
        }
        self.name = Located(value: name, location: reader.location(nameNode))
        let label = "runner rule '\(name)'"
        fields.what = label

        who = try PolicyDocument.identities(try fields.required("who"), "\(label): who", reader)

        var globs: [Glob] = []
        var seenGlobs = Set<String>()
        for entry in try reader.list(try fields.required("projects"), "\(label): projects", example: "e.g. [\"web-*\", api]") {
            let pattern = try reader.string(entry, "a project glob")
            do {
                globs.append(try Glob(pattern))
            } catch {
                throw reader.error(.badGlob, at: entry, "\(label): \(error.description)")
            }
            guard seenGlobs.insert(pattern).inserted else {
                throw reader.error(.duplicateEntry, at: entry, "project glob \(quoted(pattern)) is listed twice in \(label)")
            }
        }
        projects = globs

        var written = Set<Grant>()
        for entry in try reader.list(try fields.required("grants"), "\(label): grants", example: "e.g. [deploy-key, token]") {
            let text = try reader.string(entry, "a grant")
            guard let grant = Grant(rawValue: text) else {
                throw reader.error(
                    .unknownGrant, at: entry,
                    "unknown grant \(quoted(text)) in \(label) (grants: \(Grant.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            guard written.insert(grant).inserted else {
                throw reader.error(.duplicateEntry, at: entry, "grant '\(grant)' is listed twice in \(label)")
            }
        }
        grants = written

        let ttlNode = try fields.required("max_ttl")
        if case .scalar(let scalar) = ttlNode, ttlNode.resolvedTag == .int {
            throw reader.error(
                .badDuration, at: ttlNode, "\(label): max_ttl \(scalar.string) needs a unit: \(scalar.string)s, \(scalar.string)m or \(scalar.string)h")
        }
        let ttlText = try reader.string(ttlNode, "\(label): max_ttl")
        do {
            maxTTL = try PolicyDuration.parse(explaining: ttlText)
        } catch {
            throw reader.error(.badDuration, at: ttlNode, "\(label): max_ttl: \(error.description)")
        }
        guard maxTTL > .zero else {
            throw reader.error(.badCap, at: ttlNode, "\(label): max_ttl must be longer than 0s")
        }
        guard maxTTL <= PolicyLimits.maxSessionTTL else {
            throw reader.error(
                .badCap, at: ttlNode,
                "\(label): max_ttl \(ttlText) is above the ceiling of \(PolicyDuration.format(PolicyLimits.maxSessionTTL)) for a build session")
        }

        let usesNode = try fields.required("max_uses")
        maxUses = try reader.integer(usesNode, "\(label): max_uses")
        guard maxUses >= 1 else {
            throw reader.error(.badCap, at: usesNode, "\(label): max_uses must be at least 1, found \(maxUses)")
        }
        guard maxUses <= PolicyLimits.maxSessionUses else {
            throw reader.error(.badCap, at: usesNode, "\(label): max_uses \(maxUses) is above the ceiling of \(PolicyLimits.maxSessionUses)")
        }

        builds = try PolicyDocument.identities(try fields.required("builds"), "\(label): builds", reader)

        if let node = fields.optional("repo_token") {
            repoToken = try Self.repoTokenCaps(node, label: label, reader)
        }
    }

    /// `repo_token: { permissions: [contents:read, read_repository, REPO_READ, ...] }`.
    static func repoTokenCaps(_ node: Node, label: String, _ reader: NodeReader) throws(PolicyError) -> RepoTokenCaps {
        let block = try reader.mapping(node, "\(label): repo_token", allowed: ["permissions"])
        let list = try block.required("permissions", hint: "list what minted tokens may carry, e.g. permissions: [contents:read, read_repository, REPO_READ]")
        var allowed: [RepoTokenPermission] = []
        var seen = Set<String>()
        for entry in try reader.list(list, "\(label): repo_token.permissions", example: "e.g. [contents:read, read_repository, reporter, REPO_READ]") {
            let text = try reader.string(entry, "a permission")
            let permission: RepoTokenPermission
            switch RepoTokenPermission.parse(text) {
            case .success(let p): permission = p
            case .failure(let e): throw reader.error(.badPermission, at: entry, "\(label): \(e.description)")
            }
            guard seen.insert(text).inserted else {
                throw reader.error(.duplicateEntry, at: entry, "permission \(quoted(text)) is listed twice in \(label): repo_token")
            }
            if permission.server == .gitlab, permission.name == "role", let other = allowed.first(where: { $0.server == .gitlab && $0.name == "role" }) {
                throw reader.error(.badPermission, at: entry, "\(label): repo_token names two GitLab roles (\(other.text), \(text)); name the highest one a session may ask for")
            }
            allowed.append(permission)
        }
        return RepoTokenCaps(allowed: allowed)
    }

    /// The project-name rule: 1–64 of `A–Z a–z 0–9 . _ -`, starting with a letter or digit.
    static func isValidName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, bytes.count <= PolicyLimits.maxNameBytes, ByteSet.nameStart.contains(first) else { return false }
        return bytes.allSatisfy(ByteSet.nameCharacters.contains)
    }
}
