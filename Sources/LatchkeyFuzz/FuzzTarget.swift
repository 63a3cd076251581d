// LatchkeyFuzz: the bodies of the libFuzzer targets (`scripts/fuzz` links them into a
// harness built with `-sanitize=fuzzer,address`), also replayed over the committed
// corpus by `swift test`. A target must not crash on any input; where a parse succeeds
// it also checks what a user relies on (a re-encoded key parses to the same key, a
// re-exported log reads back the same), and traps if that fails.

/// One fuzz target: a name (its corpus directory under `Fuzz/corpus/`) and what one
/// input does.
public struct FuzzTarget: Sendable {
    public let name: String
    public let run: @Sendable ([UInt8]) -> Void

    /// Every target, in the order the README lists them.
    public static let all: [FuzzTarget] = [
        FuzzTarget(name: "http", run: HTTPFuzzTarget.run),
        FuzzTarget(name: "openssh-key", run: OpenSSHKeyFuzzTarget.run),
        FuzzTarget(name: "ssh-certificate", run: SSHCertificateFuzzTarget.run),
        FuzzTarget(name: "agent-protocol", run: AgentProtocolFuzzTarget.run),
        FuzzTarget(name: "policy", run: PolicyFuzzTarget.run),
        FuzzTarget(name: "sealed-blob", run: SealedBlobFuzzTarget.run),
        FuzzTarget(name: "audit-export", run: AuditExportFuzzTarget.run),
    ]

    /// How long the http target's daemon may stay silent before an input counts as a hang.
    /// Under libFuzzer, 30 s (its `-timeout` catches a hang first). The corpus replay in
    /// `swift test` sets more: there the daemon shares this process's two cooperative threads with
    /// every other suite, on a machine that may be building, and a slow answer is the
    /// machine's, not a hang of the daemon's.
    nonisolated(unsafe) public static var daemonAnswerTimeoutSeconds = 30

    public static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }
}

/// A broken promise found by a fuzz target: stops the process so libFuzzer keeps the input.
func fuzzFailure(_ what: String) -> Never {
    fatalError("fuzz target found a broken invariant: \(what)")
}
