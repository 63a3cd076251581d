/// Refuses policies in which two runner rules could both apply to one session.
///
/// The rule: **a runner identity gets each project from at most one rule.** Two rules
/// conflict when some identity is named by both (a uid named directly, by uid, or as a
/// member of a named group in each; or the same group named in both) and some project
/// name matches a glob of each (decided exactly by `Glob.commonMatch`, not guessed from
/// the text). Otherwise the two rules' caps, grants and build users would contradict
/// each other for that session, and which applies would depend on file order.
///
/// This refuses even two identical rules, since their names (the audit label) differ.
/// A general rule plus an exception (`*` for small caps, `release-*` for large ones,
/// same runner) must be written as two disjoint globs or two runner identities.
///
/// Cost: for each pair of rules that share an identity, each pair of their globs is
/// compared in O(glob × glob); pairs of rules that name no common identity cost a set
/// intersection.
enum RuleConflicts {
    static func check(_ rules: [RunnerRule]) throws(PolicyError) {
        for later in rules.indices {
            for earlier in rules.indices where earlier < later {
                let a = rules[earlier]
                let b = rules[later]
                guard let who = a.runners.sharedIdentity(with: b.runners) else { continue }
                for x in a.projects {
                    for y in b.projects {
                        guard let project = x.commonMatch(with: y) else { continue }
                        let globs = x.pattern == y.pattern ? "both list \(quoted(x.pattern))" : "\(quoted(x.pattern)) and \(quoted(y.pattern))"
                        throw PolicyError(
                            .conflictingRules, at: b.location,
                            "runner rule \(quoted(b.name)) overlaps runner rule \(quoted(a.name)) at \(a.location): both apply to \(who) for projects such as \(quoted(project)) (\(globs)); a runner must get each project from one rule only: narrow a glob or split the runners (see Policies/README.md)"
                        )
                    }
                }
            }
        }
    }
}
