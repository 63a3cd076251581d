/// A loaded policy: who is admin, who is auditor, and the runner rules. Immutable and
/// `Sendable`; every question is answered from in-memory sets, so it sits on the hot
/// path. Reload by loading again and swapping the value: `load` either returns a whole
/// new policy or throws and changes nothing.
package struct Policy: Sendable {
    let admins: IdentitySet
    let auditors: IdentitySet
    /// The runner rules in load order (files by name, rules as written).
    package let runnerRules: [RunnerRule]
    /// The files the policy was loaded from, in load order.
    package let files: [String]

    /// The policy that allows nothing: what is in force before a policy is loaded.
    package static let empty = Policy(admins: .nobody, auditors: .nobody, runnerRules: [], files: [])

    /// May `peer` manage connections, projects, keys and tokens and end sessions?
    package func isAdmin(_ peer: PeerIdentity) -> Bool {
        admins.contains(peer)
    }

    /// May `peer` read, export and verify the audit log?
    package func isAuditor(_ peer: PeerIdentity) -> Bool {
        auditors.contains(peer)
    }

    /// Is `peer` named by any runner rule (may it open sessions for some project)?
    package func isRunner(_ peer: PeerIdentity) -> Bool {
        runnerRules.contains { $0.admits(peer) }
    }

    /// The rule under which `peer` may open a session for `project`, or nil: deny.
    /// Loading guarantees at most one rule names a given runner uid for a given project
    /// (see `RuleConflicts`); should a peer still match two (only possible through a
    /// gid it is not a listed member of), the first in load order applies.
    package func runnerRule(for peer: PeerIdentity, project: String) -> RunnerRule? {
        runnerRules.first { $0.admits(peer) && $0.covers(project: project) }
    }

    /// Reads every `*.yaml` / `*.yml` file in `directory`, merges them and resolves
    /// user and group names with `resolver`. `$daemon` stands for `daemonUID`, the user
    /// the daemon runs as. The first problem found is thrown with its file and line;
    /// nothing is cached or changed, so a caller reloading on SIGHUP keeps its old
    /// policy on error.
    package static func load(
        directory: String, daemonUID: UInt32, resolver: some IdentityResolver = SystemIdentityResolver()
    ) throws(PolicyError) -> Policy {
        var admins = IdentitySet()
        var auditors = IdentitySet()
        var rules: [RunnerRule] = []
        var files: [String] = []
        var ruleNames: [String: SourceLocation] = [:]
        var names = NameResolution(daemonUID: daemonUID, resolver: resolver)
        for source in try PolicyDirectory.read(directory, daemonUID: daemonUID) {
            let document = try PolicyDocument.parse(path: source.path, bytes: source.bytes)
            files.append(source.path)
            if let declared = document.admins {
                admins.formUnion(try names.resolve(declared))
            }
            if let declared = document.auditors {
                auditors.formUnion(try names.resolve(declared))
            }
            for declared in document.runners {
                guard rules.count < PolicyLimits.maxRunnerRules else {
                    throw PolicyError(.tooLarge, at: declared.location, "more than \(PolicyLimits.maxRunnerRules) runner rules in the policy")
                }
                if let first = ruleNames[declared.name.value] {
                    throw PolicyError(
                        .duplicateName, at: declared.name.location,
                        "runner rule name \(quoted(declared.name.value)) is already used at \(first); names label rules in errors and audit rows, so each is used once")
                }
                ruleNames[declared.name.value] = declared.name.location
                rules.append(
                    RunnerRule(
                        name: declared.name.value, location: declared.location, projects: declared.projects,
                        grants: declared.grants, maxTTL: declared.maxTTL, maxUses: declared.maxUses,
                        runners: try names.resolve(declared.who),
                        builds: try names.resolve(declared.builds), repoToken: declared.repoToken))
            }
        }
        try RuleConflicts.check(rules)
        return Policy(admins: admins, auditors: auditors, runnerRules: rules, files: files)
    }
}
