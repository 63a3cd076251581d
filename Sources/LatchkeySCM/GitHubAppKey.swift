internal import COpenSSL
package import LatchkeyCrypto
import Foundation

/// A GitHub App's RSA private key, loaded by OpenSSL from its PEM (the file GitHub's
/// "Generate a private key" downloads: PKCS#1 `BEGIN RSA PRIVATE KEY`, or PKCS#8), and
/// the App JWTs signed with it (RS256, RFC 7518 §3.3: RSASSA-PKCS1-v1_5 over SHA-256).
///
/// The PEM is read from guarded memory through a read-only memory BIO; OpenSSL keeps the
/// key in its own heap while this object lives (freed, and cleared by OpenSSL's
/// `EVP_PKEY_free`, at deinit). An `EVP_PKEY` is safe for concurrent read-only use, and
/// every signature makes its own `EVP_MD_CTX`.
package final class GitHubAppKey: @unchecked Sendable {
    private let pkey: OpaquePointer
    /// The key's size in bits (2048 and up are accepted; GitHub makes 2048-bit keys).
    package let bits: Int
    /// `SHA256:<base64>` of the public key's DER (SubjectPublicKeyInfo), as GitHub shows it
    /// beside the App's private keys.
    package let fingerprint: String

    package static let minimumBits = 2048
    package static let maxPEMBytes = 16 * 1024

    /// Loads an RSA private key; anything else (another key type, a public key, a
    /// certificate, an encrypted PEM, garbage) is refused with what it was.
    package init(pem: SecretBytes) throws(SCMError) {
        guard pem.count > 0, pem.count <= Self.maxPEMBytes else {
            throw SCMError(.configuration, "the GitHub App private key is \(pem.count) bytes; give the PEM file GitHub generated (at most \(Self.maxPEMBytes) bytes) on standard input")
        }
        // A PEM whose final newline was stripped (standard input read as a line) still reads.
        let text: SecretBytes
        do {
            text = try SecretBytes(count: pem.count + 1) { out in
                pem.withUnsafeBytes { raw in out.copyMemory(from: raw) }
                out[pem.count] = UInt8(ascii: "\n")
            }
        } catch {
            throw SCMError(.configuration, "no guarded memory for the GitHub App private key")
        }
        let loaded: OpaquePointer? = text.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            // No passphrase callback: an encrypted key fails here rather than prompting.
            return PEM_read_bio_PrivateKey(bio, nil, { _, _, _, _ in 0 }, nil)
        }
        ERR_clear_error()
        guard let loaded else {
            throw SCMError(
                .configuration,
                "the GitHub App private key is not a PEM private key OpenSSL can read (an unencrypted '-----BEGIN RSA PRIVATE KEY-----' or '-----BEGIN PRIVATE KEY-----' file, as GitHub downloads it)")
        }
        guard EVP_PKEY_is_a(loaded, "RSA") == 1 else {
            EVP_PKEY_free(loaded)
            throw SCMError(.configuration, "the GitHub App private key is not an RSA key; GitHub Apps sign their JWTs with RS256, so their keys are RSA")
        }
        let bits = Int(EVP_PKEY_get_bits(loaded))
        guard bits >= Self.minimumBits else {
            EVP_PKEY_free(loaded)
            throw SCMError(.configuration, "the GitHub App private key has \(bits) bits; at least \(Self.minimumBits) are required")
        }
        var der: UnsafeMutablePointer<UInt8>?
        let length = i2d_PUBKEY(loaded, &der)
        guard length > 0, let der else {
            EVP_PKEY_free(loaded)
            throw SCMError(.configuration, "the GitHub App private key's public half cannot be encoded")
        }
        let publicDER = Array(UnsafeBufferPointer(start: der, count: Int(length)))
        CRYPTO_free(der, #fileID, #line)
        pkey = loaded
        self.bits = bits
        fingerprint = "SHA256:" + Data(Self.sha256(publicDER)).base64EncodedString()
    }

    deinit { EVP_PKEY_free(pkey) }

    static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        _ = EVP_Digest(bytes, bytes.count, &out, &length, EVP_sha256(), nil)
        return out
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 over `message`.
    func signRS256(_ message: [UInt8]) throws(SCMError) -> [UInt8] {
        guard let ctx = EVP_MD_CTX_new() else { throw SCMError(.configuration, "OpenSSL could not make a signing context") }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestSignInit(ctx, nil, EVP_sha256(), nil, pkey) == 1 else {
            ERR_clear_error()
            throw SCMError(.configuration, "OpenSSL refused to sign with the GitHub App key")
        }
        var length = 0
        guard EVP_DigestSign(ctx, nil, &length, message, message.count) == 1, length > 0 else {
            ERR_clear_error()
            throw SCMError(.configuration, "OpenSSL refused to sign with the GitHub App key")
        }
        var signature = [UInt8](repeating: 0, count: length)
        guard EVP_DigestSign(ctx, &signature, &length, message, message.count) == 1 else {
            ERR_clear_error()
            throw SCMError(.configuration, "OpenSSL refused to sign with the GitHub App key")
        }
        return Array(signature.prefix(length))
    }

    /// How far the JWT's `iat` is set in the past, against clock drift (GitHub's advice).
    package static let issuedAtBackdate: Int64 = 60
    /// The JWT's lifetime after `iat`: GitHub refuses an `exp` more than 10 minutes ahead,
    /// so `exp` is 9 minutes from now (10 from `iat`).
    package static let lifetime: Int64 = 600

    /// An App JWT (docs.github.com, "Generating a JSON Web Token (JWT) for a GitHub App"):
    /// header `{"alg":"RS256","typ":"JWT"}`, claims `iat` (60 s in the past), `exp`
    /// (`iat` + 10 min) and `iss` (the App id), base64url without padding, signed RS256.
    /// It is a bearer credential for 10 minutes: kept in guarded memory, never logged.
    package func appJWT(appID: String, now: Int64 = Int64(Date().timeIntervalSince1970)) throws(SCMError) -> SecretBytes {
        let iat = now - Self.issuedAtBackdate
        let header = Self.base64URL(Array(#"{"alg":"RS256","typ":"JWT"}"#.utf8))
        let claims = Self.base64URL(Array(#"{"iat":\#(iat),"exp":\#(iat + Self.lifetime),"iss":"\#(appID)"}"#.utf8))
        let signingInput = Array("\(header).\(claims)".utf8)
        var jwt = signingInput + Array(".".utf8) + Array(Self.base64URL(try signRS256(signingInput)).utf8)
        do {
            return try SecretBytes(consuming: &jwt)
        } catch {
            throw SCMError(.configuration, "no guarded memory for the App JWT")
        }
    }

    /// RFC 7515 §2 base64url, no padding.
    package static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
