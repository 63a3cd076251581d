internal import COpenSSL
internal import LatchkeyCrypto

// OpenSSL 3 from Swift: `EVP_PKEY_Q_keygen` (variadic), `EVP_RSA_gen`, `BN_num_bytes`,
// `OPENSSL_free` and `EVP_PKEY_KEYPAIR` are macros or variadic and do not import. So keys
// are generated through an `EVP_PKEY_CTX` (`EVP_PKEY_CTX_new_from_name`, `_keygen_init`,
// `_set_rsa_keygen_bits` / `_set_group_name`, `EVP_PKEY_generate`), byte counts come from
// `BN_num_bits`, components are read with `EVP_PKEY_get_bn_param` /
// `_get_octet_string_param` into buffers we own, and `selectKeyPair` spells the macro out.

/// OpenSSL 3 parameter names (`core_names.h`). Kept as static strings because an
/// `OSSL_PARAM` stores the key pointer, which must outlive the call.
enum OSSLName {
    static let rsaN: StaticString = "n"  // OSSL_PKEY_PARAM_RSA_N
    static let rsaE: StaticString = "e"  // OSSL_PKEY_PARAM_RSA_E
    static let rsaD: StaticString = "d"  // OSSL_PKEY_PARAM_RSA_D
    static let rsaP: StaticString = "rsa-factor1"  // OSSL_PKEY_PARAM_RSA_FACTOR1
    static let rsaQ: StaticString = "rsa-factor2"  // OSSL_PKEY_PARAM_RSA_FACTOR2
    static let rsaDmp1: StaticString = "rsa-exponent1"  // OSSL_PKEY_PARAM_RSA_EXPONENT1
    static let rsaDmq1: StaticString = "rsa-exponent2"  // OSSL_PKEY_PARAM_RSA_EXPONENT2
    static let rsaIqmp: StaticString = "rsa-coefficient1"  // OSSL_PKEY_PARAM_RSA_COEFFICIENT1 (q⁻¹ mod p)
    static let group: StaticString = "group"  // OSSL_PKEY_PARAM_GROUP_NAME
    static let publicKey: StaticString = "pub"  // OSSL_PKEY_PARAM_PUB_KEY
    static let privateKey: StaticString = "priv"  // OSSL_PKEY_PARAM_PRIV_KEY
    static let p256: StaticString = "P-256"
    static let rsa: StaticString = "RSA"
    static let ec: StaticString = "EC"
}

/// A fault inside OpenSSL: its thread-local error queue is cleared (its entries may
/// describe key material) and only the operation is named.
func opensslFailure(_ operation: String) -> SSHKeyError {
    ERR_clear_error()
    return .cryptoFailure(operation: operation)
}

/// `EVP_PKEY_KEYPAIR` (a compound macro that does not import): private | public | all parameters.
private let selectKeyPair: Int32 = 0x01 | 0x02 | 0x04 | 0x80

extension StaticString {
    var cString: UnsafePointer<CChar> {
        UnsafeRawPointer(utf8Start).assumingMemoryBound(to: CChar.self)
    }
}

/// An OpenSSL BIGNUM owned by Swift, cleared and freed on release.
final class BigNum {
    let pointer: OpaquePointer

    init(taking pointer: OpaquePointer) { self.pointer = pointer }

    /// Zero.
    init() throws(SSHKeyError) {
        guard let bn = BN_new() else { throw opensslFailure("BN_new") }
        pointer = bn
    }

    /// From a big-endian magnitude (empty is zero).
    init(bigEndian bytes: UnsafeRawBufferPointer) throws(SSHKeyError) {
        guard let bn = BN_new() else { throw opensslFailure("BN_new") }
        pointer = bn
        if let base = bytes.baseAddress, bytes.count > 0 {
            guard BN_bin2bn(base.assumingMemoryBound(to: UInt8.self), Int32(bytes.count), bn) != nil else {
                throw opensslFailure("BN_bin2bn")
            }
        }
    }

    var isZero: Bool { BN_is_zero(pointer) == 1 }

    deinit { BN_clear_free(pointer) }

    var bitCount: Int { Int(BN_num_bits(pointer)) }
    var byteCount: Int { (bitCount + 7) / 8 }

    /// The big-endian magnitude as a plain array (public values only: n, e).
    var publicBytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: byteCount)
        _ = BN_bn2bin(pointer, &out)
        return out
    }

    /// The big-endian magnitude in guarded memory (private values).
    func secretBytes() throws -> SecretBytes {
        let count = byteCount
        return try SecretBytes(count: count) { out in
            if count > 0 { _ = BN_bn2bin(pointer, out.baseAddress!.assumingMemoryBound(to: UInt8.self)) }
        }
    }
}

/// An ECDSA or RSA private key as an OpenSSL `EVP_PKEY`, freed with this object.
///
/// `@unchecked Sendable`: the key is never modified after `init`, and OpenSSL 3
/// documents an `EVP_PKEY` as safe for concurrent read-only use (signing, exporting
/// parameters) from several threads.
final class OpenSSLKey: @unchecked Sendable {
    private let pkey: OpaquePointer

    private init(taking pkey: OpaquePointer) { self.pkey = pkey }

    deinit { EVP_PKEY_free(pkey) }

    // MARK: Generating

    static func generate(_ type: DeployKeyType) throws(SSHKeyError) -> OpenSSLKey {
        let algorithm = type == .ecdsaP256 ? OSSLName.ec : OSSLName.rsa
        guard let ctx = EVP_PKEY_CTX_new_from_name(nil, algorithm.cString, nil) else {
            throw opensslFailure("EVP_PKEY_CTX_new_from_name")
        }
        defer { EVP_PKEY_CTX_free(ctx) }
        guard EVP_PKEY_keygen_init(ctx) == 1 else { throw opensslFailure("EVP_PKEY_keygen_init") }
        switch type {
        case .ecdsaP256:
            guard EVP_PKEY_CTX_set_group_name(ctx, OSSLName.p256.cString) == 1 else {
                throw opensslFailure("EVP_PKEY_CTX_set_group_name")
            }
        case .rsa3072, .rsa4096:
            // The public exponent stays OpenSSL's default, 65537.
            guard EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, Int32(type.bits)) == 1 else {
                throw opensslFailure("EVP_PKEY_CTX_set_rsa_keygen_bits")
            }
        case .ed25519:
            preconditionFailure("ed25519 keys come from libsodium")
        }
        var pkey: OpaquePointer?
        guard EVP_PKEY_generate(ctx, &pkey) == 1, let pkey else { throw opensslFailure("EVP_PKEY_generate") }
        return OpenSSLKey(taking: pkey)
    }

    // MARK: Rebuilding from parsed components

    /// An RSA key from its OpenSSH private fields (big-endian magnitudes). The CRT
    /// exponents OpenSSH does not store are computed here. The components are checked
    /// to belong together (n = p·q, e·d ≡ 1 mod p−1 and q−1, iqmp·q ≡ 1 mod p): OpenSSL
    /// would otherwise sign with a broken key without complaint.
    static func rsa(
        n: UnsafeRawBufferPointer, e: UnsafeRawBufferPointer, d: UnsafeRawBufferPointer,
        iqmp: UnsafeRawBufferPointer, p: UnsafeRawBufferPointer, q: UnsafeRawBufferPointer
    ) throws(SSHKeyError) -> OpenSSLKey {
        let n = try BigNum(bigEndian: n), e = try BigNum(bigEndian: e), d = try BigNum(bigEndian: d)
        let iqmp = try BigNum(bigEndian: iqmp), p = try BigNum(bigEndian: p), q = try BigNum(bigEndian: q)
        let product = try BigNum(), pm1 = try BigNum(), qm1 = try BigNum(), dmp1 = try BigNum(), dmq1 = try BigNum()
        let check = try BigNum()
        guard let ctx = BN_CTX_new() else { throw opensslFailure("BN_CTX_new") }
        defer { BN_CTX_free(ctx) }
        // Every BigNum above is used again below (the checks, then `fromData`), so each
        // outlives the C calls that take its pointer.
        guard !p.isZero, !q.isZero, !d.isZero, BN_is_odd(e.pointer) == 1 else {
            throw .invalidKey(reason: "an RSA component is zero or the exponent is even")
        }
        // A factor of 1 satisfies n = p·q but leaves a CRT modulus of zero: a refusal, not an OpenSSL fault.
        guard BN_is_one(p.pointer) == 0, BN_is_one(q.pointer) == 0 else {
            throw .invalidKey(reason: "an RSA prime factor is 1")
        }
        // As OpenSSH's ssh_rsa_complete_crt_parameters: reduce the secret d in constant time.
        for secret in [d, pm1, qm1, dmp1, dmq1] { BN_set_flags(secret.pointer, BN_FLG_CONSTTIME) }
        guard BN_mul(product.pointer, p.pointer, q.pointer, ctx) == 1,
            BN_copy(pm1.pointer, p.pointer) != nil, BN_sub_word(pm1.pointer, 1) == 1,
            BN_copy(qm1.pointer, q.pointer) != nil, BN_sub_word(qm1.pointer, 1) == 1,
            BN_nnmod(dmp1.pointer, d.pointer, pm1.pointer, ctx) == 1, BN_nnmod(dmq1.pointer, d.pointer, qm1.pointer, ctx) == 1
        else { throw opensslFailure("computing RSA CRT exponents") }
        guard BN_cmp(product.pointer, n.pointer) == 0 else { throw .invalidKey(reason: "RSA n is not p·q") }
        func isOne(_ a: BigNum, times b: BigNum, mod m: BigNum) throws(SSHKeyError) -> Bool {
            guard BN_mod_mul(check.pointer, a.pointer, b.pointer, m.pointer, ctx) == 1 else { throw opensslFailure("BN_mod_mul") }
            return BN_is_one(check.pointer) == 1
        }
        guard try isOne(e, times: dmp1, mod: pm1), try isOne(e, times: dmq1, mod: qm1) else {
            throw .invalidKey(reason: "RSA d is not the inverse of e")
        }
        guard try isOne(iqmp, times: q, mod: p) else { throw .invalidKey(reason: "RSA iqmp is not q⁻¹ mod p") }
        return try fromData(
            algorithm: OSSLName.rsa,
            numbers: [
                (OSSLName.rsaN, n), (OSSLName.rsaE, e), (OSSLName.rsaD, d), (OSSLName.rsaP, p), (OSSLName.rsaQ, q),
                (OSSLName.rsaDmp1, dmp1), (OSSLName.rsaDmq1, dmq1), (OSSLName.rsaIqmp, iqmp),
            ],
            point: nil)
    }

    /// A P-256 key from its uncompressed public point and private scalar; the pair is
    /// checked to belong together.
    static func p256(point: [UInt8], scalar: UnsafeRawBufferPointer) throws(SSHKeyError) -> OpenSSLKey {
        let d = try BigNum(bigEndian: scalar)
        let key = try fromData(algorithm: OSSLName.ec, numbers: [(OSSLName.privateKey, d)], point: point)
        guard let ctx = EVP_PKEY_CTX_new_from_pkey(nil, key.pkey, nil) else {
            throw opensslFailure("EVP_PKEY_CTX_new_from_pkey")
        }
        defer { EVP_PKEY_CTX_free(ctx) }
        guard EVP_PKEY_pairwise_check(ctx) == 1 else {
            ERR_clear_error()
            throw .invalidKey(reason: "the ECDSA private scalar does not match its public point")
        }
        return key
    }

    /// `EVP_PKEY_fromdata` over an `OSSL_PARAM` array. BIGNUM parameters travel as
    /// native-endian (little-endian here) magnitudes, written to guarded memory.
    private static func fromData(
        algorithm: StaticString, numbers: [(StaticString, BigNum)], point: [UInt8]?
    ) throws(SSHKeyError) -> OpenSSLKey {
        let sizes = numbers.map { max($0.1.byteCount, 1) }
        let total = sizes.reduce(0, +)
        let littleEndian: SecretBytes
        do {
            littleEndian = try SecretBytes(count: total) { out in
                var offset = 0
                for (i, (_, bn)) in numbers.enumerated() {
                    _ = BN_bn2lebinpad(
                        bn.pointer, out.baseAddress!.advanced(by: offset).assumingMemoryBound(to: UInt8.self), Int32(sizes[i]))
                    offset += sizes[i]
                }
            }
        } catch {
            throw .cryptoFailure(operation: "guarded memory for key parameters")
        }
        guard let ctx = EVP_PKEY_CTX_new_from_name(nil, algorithm.cString, nil) else {
            throw opensslFailure("EVP_PKEY_CTX_new_from_name")
        }
        defer { EVP_PKEY_CTX_free(ctx) }
        guard EVP_PKEY_fromdata_init(ctx) == 1 else { throw opensslFailure("EVP_PKEY_fromdata_init") }
        var pointBytes = point ?? []
        let pkey: OpaquePointer? = littleEndian.withUnsafeBytes { le in
            pointBytes.withUnsafeMutableBytes { pt in
                // OpenSSL only reads these buffers; the mutable casts satisfy its prototypes.
                let base = UnsafeMutableRawPointer(mutating: le.baseAddress!)
                var params: [OSSL_PARAM] = []
                var offset = 0
                for (i, (name, _)) in numbers.enumerated() {
                    params.append(
                        OSSL_PARAM_construct_BN(name.cString, base.advanced(by: offset).assumingMemoryBound(to: UInt8.self), sizes[i]))
                    offset += sizes[i]
                }
                if point != nil {
                    params.append(
                        OSSL_PARAM_construct_utf8_string(
                            OSSLName.group.cString, UnsafeMutablePointer(mutating: OSSLName.p256.cString), 0))
                    params.append(OSSL_PARAM_construct_octet_string(OSSLName.publicKey.cString, pt.baseAddress, pt.count))
                }
                params.append(OSSL_PARAM_construct_end())
                var pkey: OpaquePointer?
                let rc = params.withUnsafeMutableBufferPointer { EVP_PKEY_fromdata(ctx, &pkey, selectKeyPair, $0.baseAddress) }
                return rc == 1 ? pkey : nil
            }
        }
        guard let pkey else {
            ERR_clear_error()
            throw .invalidKey(reason: "OpenSSL refused the key components")
        }
        return OpenSSLKey(taking: pkey)
    }

    // MARK: Reading components

    func number(_ name: StaticString) throws(SSHKeyError) -> BigNum {
        var bn: OpaquePointer?
        guard EVP_PKEY_get_bn_param(pkey, name.cString, &bn) == 1, let bn else {
            throw opensslFailure("EVP_PKEY_get_bn_param")
        }
        return BigNum(taking: bn)
    }

    /// The uncompressed EC public point (0x04 ‖ X ‖ Y).
    func publicPoint() throws(SSHKeyError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: SSHName.p256PointBytes)
        var length = 0
        guard EVP_PKEY_get_octet_string_param(pkey, OSSLName.publicKey.cString, &out, out.count, &length) == 1,
            length == SSHName.p256PointBytes, out[0] == 0x04
        else {
            throw opensslFailure("reading the EC public point")
        }
        return out
    }

    // MARK: Signing

    enum Digest {
        case sha1, sha256, sha512
        var md: OpaquePointer? {
            switch self {
            case .sha1: EVP_sha1()
            case .sha256: EVP_sha256()
            case .sha512: EVP_sha512()
            }
        }
    }

    /// `EVP_DigestSign`: PKCS#1 v1.5 for RSA (OpenSSL's default padding), DER
    /// `ECDSA-Sig-Value` for EC.
    func sign(_ data: [UInt8], digest: Digest) throws(SSHKeyError) -> [UInt8] {
        guard let md = EVP_MD_CTX_new() else { throw opensslFailure("EVP_MD_CTX_new") }
        defer { EVP_MD_CTX_free(md) }
        guard EVP_DigestSignInit(md, nil, digest.md, nil, pkey) == 1 else {
            throw opensslFailure("EVP_DigestSignInit")
        }
        var length = 0
        guard EVP_DigestSign(md, nil, &length, data, data.count) == 1 else {
            throw opensslFailure("EVP_DigestSign (size)")
        }
        var signature = [UInt8](repeating: 0, count: length)
        guard EVP_DigestSign(md, &signature, &length, data, data.count) == 1 else {
            throw opensslFailure("EVP_DigestSign")
        }
        return Array(signature.prefix(length))
    }
}
