/// Bounds on what a policy directory may hold. They catch mistakes (a log file named
/// `.yaml`, a generated file gone wrong) and keep loading and checking a policy cheap;
/// the real boundary is that only root or the daemon's user may write the files.
public enum PolicyLimits {
    /// Largest policy file read.
    public static let maxFileBytes = 1 << 20
    /// Most `*.yaml` / `*.yml` files in the directory.
    public static let maxFiles = 64
    /// Most runner rules over all files.
    public static let maxRunnerRules = 1_000
    /// Most entries in one list (`users`, `groups`, `uids`, `projects`, `grants`).
    public static let maxListEntries = 256
    /// Longest project glob, in bytes (matching keeps its positions in 192 bits).
    public static let maxGlobBytes = 128
    /// Longest runner rule name, in bytes (the same rule as project names).
    public static let maxNameBytes = 64
    /// Ceiling for `max_ttl`: a build session is short-lived by design.
    public static let maxSessionTTL: Duration = .seconds(24 * 3600)
    /// Ceiling for `max_uses`.
    public static let maxSessionUses = 1_000_000
}
