import LatchkeyCrypto

/// The sealed-blob openers: the input, cut where its first byte says, as a stored
/// secret (sealed payload and wrapped data key) opened under a fixed key-encryption key,
/// as a wrapped key-encryption key, and as a sealed box to the intake key. Nothing the
/// fuzzer makes may open: a forgery would be a broken cipher or a broken length check.
enum SealedBlobFuzzTarget {
    static let kek = try! KeyEncryptionKey.generate(generation: 1)
    static let intake = try! IntakeKeyPair.generate()
    static let older = try! KeyEncryptionKey.generate(generation: 2)
    static let root = RootKey(key: try! SecretBytes.random(count: RootKey.keyBytes))
    static let record = RecordBinding(kind: "token", id: "fuzz", version: 1)

    static func run(_ input: [UInt8]) {
        guard let first = input.first else { return }
        let rest = Array(input.dropFirst())
        let cut = rest.isEmpty ? 0 : Int(first) % (rest.count + 1)
        let sealed = SealedSecret(sealedPayload: Array(rest[..<cut]), wrappedDataKey: Array(rest[cut...]), generation: 1)
        if (try? kek.open(sealed, for: record)) != nil { fuzzFailure("a made-up sealed secret opened") }
        if (try? kek.rewrap(rest, from: older, for: record)) != nil { fuzzFailure("a made-up wrapped data key unwrapped") }
        if (try? root.unwrapKEK(rest, generation: 3)) != nil { fuzzFailure("a made-up wrapped key-encryption key unwrapped") }
        if (try? intake.open(rest)) != nil { fuzzFailure("a made-up sealed box opened") }
    }
}
