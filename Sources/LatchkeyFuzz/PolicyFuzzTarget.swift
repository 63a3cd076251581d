import LatchkeyPolicy
import Foundation

/// The policy loader: the input is written as the only file of a policy directory and
/// loaded as the daemon loads it on start and on SIGHUP (YAML, schema, names, globs,
/// durations, limits, rule conflicts).
enum PolicyFuzzTarget {
    static let directory: String = {
        let d = NSTemporaryDirectory() + "latchkey-fuzz-policy-\(getpid())"
        mkdir(d, 0o700)
        atexit { try? FileManager.default.removeItem(atPath: PolicyFuzzTarget.directory) }
        return d
    }()

    static func run(_ input: [UInt8]) {
        let path = directory + "/policy.yaml"
        guard FileManager.default.createFile(atPath: path, contents: Data(input), attributes: [.posixPermissions: 0o600]) else {
            fuzzFailure("cannot write \(path)")
        }
        _ = try? Policy.load(directory: directory, daemonUID: getuid())
    }
}
