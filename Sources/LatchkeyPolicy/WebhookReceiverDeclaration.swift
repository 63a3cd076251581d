import Yams

/// One `webhook_receivers:` entry as written:
///
/// ```yaml
/// webhook_receivers:
///   - name: ci-hooks
///     who: { users: [ci-hooks] }
///     projects: ["web-*"]
/// ```
///
/// `Policy.load` resolves its identities into a `WebhookReceiverRule`.
struct WebhookReceiverDeclaration {
    var name: Located<String>
    var location: SourceLocation
    var who: IdentityDeclaration
    var projects: [Glob]

    static let keys = ["name", "who", "projects"]

    init(_ node: Node, _ reader: NodeReader) throws(PolicyError) {
        var fields = try reader.mapping(node, "a webhook receiver rule", allowed: Self.keys)
        location = reader.location(node)
        let nameNode = try fields.required("name")
        let name = try reader.string(nameNode, "name")
        guard RunnerDeclaration.isValidName(name) else {
            throw reader.error(
                .badName, at: nameNode,
                "webhook receiver rule name \(quoted(name)) is not allowed: use 1–\(PolicyLimits.maxNameBytes) letters, digits, '.', '_' or '-', starting with a letter or digit")
        }
        self.name = Located(value: name, location: reader.location(nameNode))
        let label = "webhook receiver rule '\(name)'"
        fields.what = label
        who = try PolicyDocument.identities(try fields.required("who"), "\(label): who", reader)
        var globs: [Glob] = []
        var seen = Set<String>()
        for entry in try reader.list(try fields.required("projects"), "\(label): projects", example: "e.g. [\"web-*\", api]") {
            let pattern = try reader.string(entry, "a project glob")
            do {
                globs.append(try Glob(pattern))
            } catch {
                throw reader.error(.badGlob, at: entry, "\(label): \(error.description)")
            }
            guard seen.insert(pattern).inserted else {
                throw reader.error(.duplicateEntry, at: entry, "project glob \(quoted(pattern)) is listed twice in \(label)")
            }
        }
        projects = globs
    }
}
