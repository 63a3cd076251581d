import ArgumentParser
import LatchkeyPolicy

/// Parses `90s`, `10m`, `1h30m` (the policy files' durations) into whole seconds.
func seconds(_ text: String, option: String) throws -> Int64 {
    guard let d = PolicyDuration.parse(text) else {
        throw ValidationError("\(option) '\(text)' is not a duration like 90s, 10m or 1h30m")
    }
    return d.components.seconds
}
