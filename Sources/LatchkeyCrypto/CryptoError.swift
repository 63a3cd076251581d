/// The failures of the crypto layer. Messages never contain secret bytes.
package enum CryptoError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A sealed blob did not open: wrong key, wrong record, or altered bytes.
    case openFailed(what: String)
    /// A blob was too short or had an unknown format version.
    case malformed(what: String)
    /// A signature did not verify.
    case badSignature
    /// Guarded memory could not be allocated.
    case outOfSecureMemory
    /// Argon2id could not run with the requested limits (usually: not enough memory).
    case keyDerivationFailed

    package var code: String {
        switch self {
        case .openFailed: "seal_open_failed"
        case .malformed: "seal_malformed"
        case .badSignature: "bad_signature"
        case .outOfSecureMemory: "out_of_secure_memory"
        case .keyDerivationFailed: "key_derivation_failed"
        }
    }

    package var description: String {
        switch self {
        case .openFailed(let what):
            "\(what) did not open: wrong key, wrong record or altered bytes"
        case .malformed(let what): "\(what) is malformed (too short or unknown format)"
        case .badSignature: "signature does not verify"
        case .outOfSecureMemory: "could not allocate guarded memory for a secret (check RLIMIT_MEMLOCK)"
        case .keyDerivationFailed: "Argon2id key derivation failed (not enough memory for its limits?)"
        }
    }
}
