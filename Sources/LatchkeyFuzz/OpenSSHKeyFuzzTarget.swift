import LatchkeyCrypto
import LatchkeySSH
import Foundation

/// The OpenSSH key decoder and encoder: a private key file (armored, or — when the first
/// byte is odd — the rest of the input as the binary `openssh-key-v1` blob inside the
/// armor, so the fuzzer reaches the wire parser directly), an `authorized_keys` line and
/// a public key blob. A key that parses is written out again and must parse to the same
/// public key.
enum OpenSSHKeyFuzzTarget {
    static func run(_ input: [UInt8]) {
        guard let first = input.first else { return }
        var text: [UInt8]
        if first & 1 == 1 {
            let b64 = Data(input.dropFirst()).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
            text = Array("-----BEGIN OPENSSH PRIVATE KEY-----\n\(b64)\n-----END OPENSSH PRIVATE KEY-----\n".utf8)
        } else {
            text = Array(input.dropFirst())
        }
        if let pem = try? SecretBytes(consuming: &text), let key = try? DeployKey(openSSHPrivateKey: pem) {
            guard let written = try? key.openSSHPrivateKey(comment: "fuzz"), let again = try? DeployKey(openSSHPrivateKey: written) else {
                fuzzFailure("a parsed private key did not survive writing and reading back")
            }
            guard again.publicKey() == key.publicKey() else { fuzzFailure("a re-encoded private key has another public key") }
        }
        if let line = String(validating: input, as: UTF8.self), let key = try? SSHPublicKey(authorizedKeysLine: line) {
            guard (try? SSHPublicKey(blob: key.blob)) != nil else { fuzzFailure("a parsed public key's blob does not parse") }
        }
        _ = try? SSHPublicKey(blob: input)
    }
}
