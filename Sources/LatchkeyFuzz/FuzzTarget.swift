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

    public static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }
}

/// A broken promise found by a fuzz target: stops the process so libFuzzer keeps the input.
func fuzzFailure(_ what: String) -> Never {
    fatalError("fuzz target found a broken invariant: \(what)")
}
