// LatchkeyCrypto: every cryptographic primitive Latchkey uses, each wrapped once.
//
// The model. Secret bytes live in `SecretBytes` (guarded `sodium_malloc` regions, pooled,
// no-access while idle, wiped on release, never printable or comparable with `==`).
// A *root key* comes from a key file or an Argon2id passphrase (`RootKey`). It wraps
// one random *key-encryption key* (KEK) per key generation. Every secret version has
// its own random *data key* (DEK): the payload is sealed with XChaCha20-Poly1305 under
// the DEK, the DEK under the KEK, both with associated data that binds them to their
// record (`RecordBinding`), so a blob copied onto another row fails to open
// (`Envelope`). Master-key rotation re-wraps DEKs only.
//
// Other primitives: BLAKE2b (`Blake2b`, audit chain and keyed fingerprints),
// Ed25519 (`Ed25519SigningKey`, audit checkpoints and deploy keys), X25519 sealed boxes
// (`IntakeKeyPair`, tokens sealed by the client before they cross the socket).
