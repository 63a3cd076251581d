internal import CSodium

/// Key fingerprints as OpenSSH prints them.
enum SSHFingerprint {
    /// `SHA256:` and the unpadded base64 of the SHA-256 of the public key blob, as
    /// `ssh-keygen -lf` prints it.
    static func sha256(_ blob: [UInt8]) -> String {
        SodiumReady.ensure()
        var digest = [UInt8](repeating: 0, count: Int(crypto_hash_sha256_BYTES))
        _ = crypto_hash_sha256(&digest, blob, UInt64(blob.count))
        return "SHA256:" + Base64.encode(digest, padded: false)
    }
}

/// libsodium wants `sodium_init` before any call; it is idempotent and thread-safe.
enum SodiumReady {
    private static let ready: Bool = sodium_init() >= 0
    static func ensure() { precondition(ready, "libsodium could not be initialised") }
}
