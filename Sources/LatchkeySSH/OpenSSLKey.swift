internal import COpenSSL

/// An OpenSSL EVP_PKEY (ECDSA P-256 or RSA) owned by this object and freed with it.
/// `@unchecked Sendable`: the key is immutable after creation and OpenSSL's signing
/// with a shared EVP_PKEY is thread-safe (each signature uses its own context).
final class OpenSSLKey: @unchecked Sendable {
    let pkey: OpaquePointer

    private init(_ pkey: OpaquePointer) { self.pkey = pkey }

    deinit { EVP_PKEY_free(pkey) }

    static func failure(_ what: String) -> SSHKeyError {
        let code = ERR_get_error()
        ERR_clear_error()
        return .openSSL("\(what) (error \(String(code, radix: 16)))")
    }

    /// A new key: "EC" on P-256, or "RSA" with `bits`.
    static func generate(algorithm: String, bits: Int? = nil) throws(SSHKeyError) -> OpenSSLKey {
        guard let ctx = EVP_PKEY_CTX_new_from_name(nil, algorithm, nil) else { throw failure("EVP_PKEY_CTX_new_from_name") }
        defer { EVP_PKEY_CTX_free(ctx) }
        guard EVP_PKEY_keygen_init(ctx) == 1 else { throw failure("keygen init") }
        if let bits {
            guard EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, Int32(bits)) == 1 else { throw failure("RSA bits") }
        } else {
            guard EVP_PKEY_CTX_set_group_name(ctx, "P-256") == 1 else { throw failure("P-256") }
        }
        var pkey: OpaquePointer?
        guard EVP_PKEY_generate(ctx, &pkey) == 1, let pkey else { throw failure("key generation") }
        return OpenSSLKey(pkey)
    }

    /// A key from its parts: `numbers` are (OpenSSL parameter name, big-endian magnitude);
    /// `strings` (name, value) and `octets` (name, bytes) complete it.
    static func fromParts(algorithm: String, numbers: [(String, [UInt8])], strings: [(String, String)] = [], octets: [(String, [UInt8])] = [])
        throws(SSHKeyError) -> OpenSSLKey
    {
        guard let bld = OSSL_PARAM_BLD_new() else { throw failure("OSSL_PARAM_BLD_new") }
        defer { OSSL_PARAM_BLD_free(bld) }
        var bignums: [OpaquePointer] = []
        defer { bignums.forEach { BN_clear_free($0) } }
        for (name, value) in strings {
            guard OSSL_PARAM_BLD_push_utf8_string(bld, name, value, 0) == 1 else { throw failure("param \(name)") }
        }
        for (name, value) in octets {
            guard value.withUnsafeBytes({ OSSL_PARAM_BLD_push_octet_string(bld, name, $0.baseAddress, $0.count) }) == 1 else {
                throw failure("param \(name)")
            }
        }
        for (name, magnitude) in numbers {
            guard let bn = magnitude.withUnsafeBufferPointer({ BN_bin2bn($0.baseAddress, Int32($0.count), nil) }) else { throw failure("BN") }
            bignums.append(bn)
            guard OSSL_PARAM_BLD_push_BN(bld, name, bn) == 1 else { throw failure("param \(name)") }
        }
        guard let params = OSSL_PARAM_BLD_to_param(bld) else { throw failure("params") }
        defer { OSSL_PARAM_free(params) }
        guard let ctx = EVP_PKEY_CTX_new_from_name(nil, algorithm, nil) else { throw failure("ctx") }
        defer { EVP_PKEY_CTX_free(ctx) }
        var pkey: OpaquePointer?
        guard EVP_PKEY_fromdata_init(ctx) == 1, EVP_PKEY_fromdata(ctx, &pkey, latchkey_evp_pkey_keypair(), params) == 1, let pkey else {
            throw failure("the private key does not load")
        }
        let key = OpenSSLKey(pkey)
        // A key whose parts do not fit together is refused.
        guard let check = EVP_PKEY_CTX_new_from_pkey(nil, pkey, nil) else { throw failure("check ctx") }
        defer { EVP_PKEY_CTX_free(check) }
        guard EVP_PKEY_pairwise_check(check) == 1 else {
            ERR_clear_error()
            throw .inconsistent("the private key does not match its public key")
        }
        return key
    }

    /// A big-number parameter as a big-endian magnitude.
    func number(_ name: String) throws(SSHKeyError) -> [UInt8] {
        var bn: OpaquePointer?
        guard EVP_PKEY_get_bn_param(pkey, name, &bn) == 1, let bn else { throw Self.failure("parameter \(name)") }
        defer { BN_clear_free(bn) }
        var out = [UInt8](repeating: 0, count: (Int(BN_num_bits(bn)) + 7) / 8)
        _ = out.withUnsafeMutableBufferPointer { BN_bn2bin(bn, $0.baseAddress) }
        return out
    }

    func octets(_ name: String, capacity: Int = 133) throws(SSHKeyError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: capacity)
        var len = 0
        guard EVP_PKEY_get_octet_string_param(pkey, name, &out, capacity, &len) == 1 else { throw Self.failure("parameter \(name)") }
        return Array(out[0..<len])
    }

    /// Signs `data` with the digest `digest` ("SHA256", "SHA512", "SHA1"): PKCS#1 v1.5 for
    /// RSA, DER ECDSA-Sig-Value for EC.
    func sign(_ data: [UInt8], digest: String) throws(SSHKeyError) -> [UInt8] {
        guard let md = EVP_MD_fetch(nil, digest, nil) else { throw Self.failure("digest \(digest)") }
        defer { EVP_MD_free(md) }
        guard let ctx = EVP_MD_CTX_new() else { throw Self.failure("md ctx") }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestSignInit(ctx, nil, md, nil, pkey) == 1 else { throw Self.failure("sign init") }
        var len = 0
        guard data.withUnsafeBufferPointer({ EVP_DigestSign(ctx, nil, &len, $0.baseAddress, $0.count) }) == 1 else { throw Self.failure("sign size") }
        var sig = [UInt8](repeating: 0, count: len)
        guard data.withUnsafeBufferPointer({ d in sig.withUnsafeMutableBufferPointer { EVP_DigestSign(ctx, $0.baseAddress, &len, d.baseAddress, d.count) } }) == 1
        else { throw Self.failure("sign") }
        return Array(sig[0..<len])
    }
}

extension OpenSSLKey {
    /// d mod (p−1) and d mod (q−1), which OpenSSH does not store but OpenSSL wants.
    static func crtExponents(d: [UInt8], p: [UInt8], q: [UInt8]) throws(SSHKeyError) -> ([UInt8], [UInt8]) {
        guard let ctx = BN_CTX_new() else { throw failure("BN_CTX") }
        defer { BN_CTX_free(ctx) }
        func bn(_ b: [UInt8]) -> OpaquePointer? { b.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, Int32($0.count), nil) } }
        guard let bd = bn(d), let bp = bn(p), let bq = bn(q), let p1 = BN_new(), let q1 = BN_new(), let r1 = BN_new(), let r2 = BN_new() else {
            throw failure("BN")
        }
        defer { [bd, bp, bq, p1, q1, r1, r2].forEach { BN_clear_free($0) } }
        guard BN_sub(p1, bp, BN_value_one()) == 1, BN_sub(q1, bq, BN_value_one()) == 1,
            BN_div(nil, r1, bd, p1, ctx) == 1, BN_div(nil, r2, bd, q1, ctx) == 1
        else { throw failure("CRT exponents") }
        func bytes(_ b: OpaquePointer) -> [UInt8] {
            var out = [UInt8](repeating: 0, count: (Int(BN_num_bits(b)) + 7) / 8)
            _ = out.withUnsafeMutableBufferPointer { BN_bn2bin(b, $0.baseAddress) }
            return out
        }
        return (bytes(r1), bytes(r2))
    }
}
