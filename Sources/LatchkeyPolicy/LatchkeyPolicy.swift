// LatchkeyPolicy: who may do what, decided from the kernel's word on who is asking.
//
// The model. Every connection to the daemon has a `PeerIdentity` (uid, gid, pid from
// SO_PEERCRED). A `Policy` names, by Unix user, group or uid:
//   - admins, who manage connections, projects, keys and tokens (never reading one back);
//   - auditors, who read and verify the audit log;
//   - runner rules (`RunnerRule`): which runners may open build sessions, for which
//     projects (`Glob`s over project names), carrying which `Grant`s (deploy-key,
//     token), for at most `maxTTL` and `maxUses`, and which builds may redeem them.
// Anything the policy does not grant is denied; `Policy.empty` denies everything.
//
// Loading. `Policy.load(directory:daemonUID:resolver:)` reads every *.yaml / *.yml file
// of a directory (`PolicyDirectory`: ownership, permissions and size checked first),
// screens the text for YAML anchors and aliases (`AliasScan`), composes it with Yams and
// reads the tree strictly (`NodeReader`, `PolicyDocument`, `RunnerDeclaration`): unknown
// keys, wrong kinds, bad durations, globs, grants and caps are errors with file and line.
// Names are then resolved (`NameResolution`, through an `IdentityResolver`) into uids and gids
// (`IdentitySet`; `$daemon` is the daemon's own uid), the files are merged, and
// `RuleConflicts` refuses two rules that would both apply to one runner and project.
// The first problem is thrown as a `PolicyError` with a stable code; nothing else
// changes, so a daemon reloading on SIGHUP keeps its previous policy.
//
// Evaluation is pure: set lookups and glob matches in memory, no I/O, no allocation of
// note, safe to call from any thread. The file format is documented in Policies/README.md.
