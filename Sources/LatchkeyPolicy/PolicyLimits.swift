/// Bounds on what a policy directory may hold. They catch mistakes (a log file named
/// `.yaml`, a generated file gone wrong) and keep loading and checking a policy cheap;
/// the real boundary is that only root or the daemon's user may write the files.
package enum PolicyLimits {
    /// Largest policy file read.
    package static let maxFileBytes = 1 << 20
    /// Most `*.yaml` / `*.yml` files in the directory.
    package static let maxFiles = 64
    /// Most runner rules over all files.
    package static let maxRunnerRules = 1_000
    /// Most entries in one list (`users`, `groups`, `uids`, `projects`, `grants`).
    package static let maxListEntries = 256
    /// Longest project glob, in bytes (matching keeps its positions in 192 bits).
    package static let maxGlobBytes = 128
    /// Longest runner rule name, in bytes (the same rule as project names).
    package static let maxNameBytes = 64
    /// Ceiling for `max_ttl`: a build session is short-lived by design.
    package static let maxSessionTTL: Duration = .seconds(24 * 3600)
    /// Ceiling for `max_uses`.
    package static let maxSessionUses = 1_000_000
}
