/// `POST /v1/master-key/rotate` (admin): the new generation and how many data keys moved.
public struct MasterKeyRotation: Codable, Sendable, Equatable {
    public var generation: Int64
    public var rewrapped: Int

    public init(generation: Int64, rewrapped: Int) {
        self.generation = generation
        self.rewrapped = rewrapped
    }
}

/// `GET /v1/intake-key`: the daemon's X25519 intake public key (base64), to which
/// clients seal tokens with `crypto_box_seal`.
public struct IntakeKey: Codable, Sendable, Equatable {
    public var publicKey: String

    public init(publicKey: String) { self.publicKey = publicKey }
}

/// `POST /v1/master-key/rekey` (admin): the new root key. Exactly one of `keyFile` (an
/// absolute path the daemon reads, or creates mode 0600 if it does not exist) or
/// `sealedPassphrase` (base64 of the passphrase sealed to the intake key, so it never
/// crosses the socket in clear); `kdf` picks the Argon2id limits for a passphrase.
public struct MasterKeyRekeyRequest: Codable, Sendable, Equatable {
    public var keyFile: String?
    public var sealedPassphrase: String?
    public var kdf: String?

    public init(keyFile: String? = nil, sealedPassphrase: String? = nil, kdf: String? = nil) {
        self.keyFile = keyFile
        self.sealedPassphrase = sealedPassphrase
        self.kdf = kdf
    }
}

/// What a rekey did: the key generation now wrapped under the new root key, and its kind.
public struct MasterKeyRekeyResult: Codable, Sendable, Equatable {
    public var generation: Int64
    public var kind: String

    public init(generation: Int64, kind: String) {
        self.generation = generation
        self.kind = kind
    }
}
