// LatchkeyPolicy: who may do what, from declarative YAML files in `Policies/`.
//
// `PolicyLoader` reads every *.yaml / *.yml file of a directory (strictly: unknown keys,
// wrong types, unknown users or groups and contradictory rules are errors with file,
// line and reason) and resolves user and group names to uid / gid sets once, at load.
// `Policy` then answers, with in-memory set lookups only: is this peer an admin, an
// auditor, a runner; which `RunnerRule` lets it open a session for a project (grants,
// maximum TTL and uses, and which build uids may redeem). Deny is the default.
