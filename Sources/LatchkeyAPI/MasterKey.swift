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
