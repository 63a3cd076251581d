internal import LatchkeyCrypto

/// The unencrypted `openssh-key-v1` private key format (OpenSSH's PROTOCOL.key):
///
///     "openssh-key-v1\0" string cipher("none") string kdf("none") string kdfoptions("")
///     uint32 nkeys(1) string publickey string private
///     private = uint32 check ‖ uint32 check ‖ string type ‖ fields ‖ string comment ‖ 1, 2, 3, … to a multiple of 8
///
/// ed25519 fields: string pk(32) ‖ string seed‖pk(64); ECDSA: string "nistp256" ‖
/// string Q ‖ mpint d; RSA: mpint n, e, d, iqmp, p, q. The decoded blob and the PEM
/// text live only in guarded memory.
enum OpenSSHPrivateKeyFormat {
    static let begin: StaticString = "-----BEGIN OPENSSH PRIVATE KEY-----"
    static let end: StaticString = "-----END OPENSSH PRIVATE KEY-----"
    static let magic: StaticString = "openssh-key-v1"  // followed by a NUL byte
    static let none: StaticString = "none"
    /// ssh-keygen wraps the base64 body at 70 columns.
    static let lineWidth = 70
    /// Cipher "none" has an 8-byte block: the private section is padded to it.
    static let blockSize = 8
    /// An RSA-4096 key file is about 3.4 KB; 64 KiB bounds hostile input generously.
    static let maxPEMBytes = 64 * 1024

    // MARK: Writing

    static func encode(_ key: DeployKey, comment: String, checkInt: UInt32) throws -> SecretBytes {
        let parts = try PrivateParts(key)
        let commentBytes = Array(comment.utf8)
        let writeUnpadded = { (sink: inout any WireSink) in
            sink.appendUInt32(checkInt)
            sink.appendUInt32(checkInt)
            sink.appendString(key.type.sshAlgorithmName)
            parts.write(into: &sink)
            sink.appendString(commentBytes)
        }
        var counter: any WireSink = CountingSink()
        writeUnpadded(&counter)
        let unpadded = (counter as? CountingSink)?.count ?? 0
        let padding = (blockSize - unpadded % blockSize) % blockSize
        let blob = try secretWire { sink in
            magic.withUTF8Buffer { sink.append(UnsafeRawBufferPointer($0)) }
            withUnsafeBytes(of: UInt8(0)) { sink.append($0) }
            sink.appendString(none)
            sink.appendString(none)
            sink.appendString([])
            sink.appendUInt32(1)
            sink.appendString(key.publicKeyBlob)
            sink.appendUInt32(UInt32(unpadded + padding))
            writeUnpadded(&sink)
            let pad = (0..<padding).map { UInt8($0 + 1) }
            pad.withUnsafeBytes { sink.append($0) }
        }
        let body = try Base64.encode(blob)
        let lines = (body.count + lineWidth - 1) / lineWidth
        let total = begin.utf8CodeUnitCount + 1 + body.count + lines + end.utf8CodeUnitCount + 1
        return try SecretBytes(count: total) { out in
            var sink = BufferSink(buffer: out)
            let newline = UInt8(ascii: "\n")
            begin.withUTF8Buffer { sink.append(UnsafeRawBufferPointer($0)) }
            withUnsafeBytes(of: newline) { sink.append($0) }
            body.withUnsafeBytes { b in
                var offset = 0
                while offset < b.count {
                    let n = min(lineWidth, b.count - offset)
                    sink.append(UnsafeRawBufferPointer(rebasing: b[offset..<(offset + n)]))
                    withUnsafeBytes(of: newline) { sink.append($0) }
                    offset += n
                }
            }
            end.withUTF8Buffer { sink.append(UnsafeRawBufferPointer($0)) }
            withUnsafeBytes(of: newline) { sink.append($0) }
        }
    }

    /// The private fields, read out of the key before the two write passes.
    enum PrivateParts {
        case ed25519(publicKey: [UInt8], secretKey: SecretBytes)
        case ecdsa(point: [UInt8], scalar: SecretBytes)
        case rsa(n: [UInt8], e: [UInt8], d: SecretBytes, iqmp: SecretBytes, p: SecretBytes, q: SecretBytes)

        init(_ key: DeployKey) throws {
            switch key.material {
            case .ed25519(let k):
                self = .ed25519(publicKey: k.publicKey, secretKey: k.secretKey)
            case .openSSL(let k) where key.type == .ecdsaP256:
                self = .ecdsa(point: try k.publicPoint(), scalar: try k.number(OSSLName.privateKey).secretBytes())
            case .openSSL(let k):
                self = .rsa(
                    n: try k.number(OSSLName.rsaN).publicBytes, e: try k.number(OSSLName.rsaE).publicBytes,
                    d: try k.number(OSSLName.rsaD).secretBytes(), iqmp: try k.number(OSSLName.rsaIqmp).secretBytes(),
                    p: try k.number(OSSLName.rsaP).secretBytes(), q: try k.number(OSSLName.rsaQ).secretBytes())
            }
        }

        func write(into sink: inout any WireSink) {
            switch self {
            case .ed25519(let pk, let sk):
                sink.appendString(pk)
                sink.appendString(sk)  // seed ‖ pk, libsodium's secret key layout
            case .ecdsa(let point, let scalar):
                sink.appendString(SSHName.nistp256)
                sink.appendString(point)
                sink.appendMPInt(scalar)
            case .rsa(let n, let e, let d, let iqmp, let p, let q):
                n.withUnsafeBytes { sink.appendMPInt($0) }
                e.withUnsafeBytes { sink.appendMPInt($0) }
                sink.appendMPInt(d)
                sink.appendMPInt(iqmp)
                sink.appendMPInt(p)
                sink.appendMPInt(q)
            }
        }
    }

    // MARK: Reading

    struct Parsed {
        let type: DeployKeyType
        let material: DeployKey.Material
        let publicKeyBlob: [UInt8]
        let comment: String
    }

    static func parse(pem: SecretBytes) throws -> Parsed {
        guard pem.count > 0 else { throw SSHKeyError.empty }
        guard pem.count <= maxPEMBytes else { throw SSHKeyError.tooLarge(bytes: pem.count, limit: maxPEMBytes) }
        let blob = try pem.withUnsafeBytes { text in try decodeArmor(text) }
        return try blob.withUnsafeBytes { try parse(blob: $0) }
    }

    /// The base64 body between the armor lines, decoded into guarded memory. Lines
    /// may end in LF or CRLF; the final line break may be missing; nothing may follow.
    private static func decodeArmor(_ text: UnsafeRawBufferPointer) throws -> SecretBytes {
        var cursor = WireCursor(text)
        guard let head = cursor.bytes(begin.utf8CodeUnitCount), head.elementsEqual(begin) else {
            throw SSHKeyError.notOpenSSHPEM
        }
        guard skipLineBreak(&cursor) else { throw SSHKeyError.notOpenSSHPEM }
        let bodyStart = cursor.offset
        guard let endAt = find(end, in: text, from: bodyStart) else { throw SSHKeyError.notOpenSSHPEM }
        var after = WireCursor(text, offset: endAt + end.utf8CodeUnitCount)
        _ = skipLineBreak(&after)
        guard after.isAtEnd else { throw SSHKeyError.trailingData(where: "after the PEM footer") }
        let body = UnsafeRawBufferPointer(rebasing: text[bodyStart..<endAt])
        guard let last = body.last, last == UInt8(ascii: "\n") else { throw SSHKeyError.notOpenSSHPEM }
        guard let decoded = try Base64.decode(body) else { throw SSHKeyError.badBase64 }
        return decoded
    }

    private static func skipLineBreak(_ cursor: inout WireCursor) -> Bool {
        var probe = cursor
        if probe.uint8() == UInt8(ascii: "\r") { _ = cursor.uint8() }
        probe = cursor
        guard probe.uint8() == UInt8(ascii: "\n") else { return false }
        _ = cursor.uint8()
        return true
    }

    private static func find(_ needle: StaticString, in text: UnsafeRawBufferPointer, from start: Int) -> Int? {
        let n = needle.utf8CodeUnitCount
        guard text.count >= n, start <= text.count - n else { return nil }
        return needle.withUTF8Buffer { pattern in
            for i in start...(text.count - n) where text[i] == pattern[0] {
                if UnsafeRawBufferPointer(rebasing: text[i..<(i + n)]).elementsEqual(pattern) { return i }
            }
            return nil
        }
    }

    private static func parse(blob: UnsafeRawBufferPointer) throws -> Parsed {
        var c = WireCursor(blob)
        guard let head = c.bytes(magic.utf8CodeUnitCount + 1), UnsafeRawBufferPointer(rebasing: head.prefix(magic.utf8CodeUnitCount)).elementsEqual(magic),
            head.last == 0
        else { throw SSHKeyError.badMagic }
        guard let cipher = c.string() else { throw SSHKeyError.truncated(what: "the cipher name") }
        guard let kdf = c.string() else { throw SSHKeyError.truncated(what: "the KDF name") }
        guard let kdfOptions = c.string() else { throw SSHKeyError.truncated(what: "the KDF options") }
        guard cipher.elementsEqual(none), kdf.elementsEqual(none) else {
            throw SSHKeyError.encrypted(cipher: SSHKeyError.printable(cipher))
        }
        guard kdfOptions.isEmpty else { throw SSHKeyError.invalidKey(reason: "KDF options given without a KDF") }
        guard let count = c.uint32() else { throw SSHKeyError.truncated(what: "the key count") }
        guard count == 1 else { throw SSHKeyError.keyCount(Int(count)) }
        guard let publicBlob = c.string() else { throw SSHKeyError.truncated(what: "the public key") }
        guard let section = c.string() else { throw SSHKeyError.truncated(what: "the private section") }
        guard c.isAtEnd else { throw SSHKeyError.trailingData(where: "after the private section") }
        guard section.count % blockSize == 0 else { throw SSHKeyError.badPadding }

        var p = WireCursor(section)
        guard let check1 = p.uint32(), let check2 = p.uint32() else { throw SSHKeyError.truncated(what: "the check integers") }
        guard check1 == check2 else { throw SSHKeyError.checkIntMismatch }
        guard let typeName = p.string() else { throw SSHKeyError.truncated(what: "the private key type") }
        let truncatedFields = SSHKeyError.truncated(what: "the private key fields")
        let type: DeployKeyType
        let material: DeployKey.Material
        if typeName.elementsEqual("ssh-ed25519") {
            guard let pk = p.string(), let sk = p.string() else { throw truncatedFields }
            guard pk.count == Ed25519SigningKey.publicKeyBytes, sk.count == Ed25519SigningKey.secretKeyBytes else {
                throw SSHKeyError.invalidKey(reason: "ed25519 fields have the wrong lengths")
            }
            guard sk.suffix(Ed25519SigningKey.publicKeyBytes).elementsEqual(pk) else {
                throw SSHKeyError.invalidKey(reason: "the ed25519 secret key does not end in its public key")
            }
            let seed = try SecretBytes(count: Ed25519SigningKey.seedBytes) { out in
                out.copyMemory(from: UnsafeRawBufferPointer(rebasing: sk.prefix(Ed25519SigningKey.seedBytes)))
            }
            let signingKey = try Ed25519SigningKey(seed: seed)
            guard signingKey.publicKey.elementsEqual(pk) else {
                throw SSHKeyError.invalidKey(reason: "the ed25519 seed does not produce its public key")
            }
            type = .ed25519
            material = .ed25519(signingKey)
        } else if typeName.elementsEqual("ecdsa-sha2-nistp256") {
            guard let curve = p.string(), let point = p.string(), let scalar = p.mpint() else { throw truncatedFields }
            guard curve.elementsEqual(SSHName.nistp256) else {
                throw SSHKeyError.unknownKeyType("ecdsa-sha2-nistp256 on curve " + SSHKeyError.printable(curve))
            }
            guard point.count == SSHName.p256PointBytes, point.first == 0x04, scalar.count <= SSHName.p256ScalarBytes,
                !scalar.isEmpty
            else { throw SSHKeyError.invalidKey(reason: "the ECDSA point or scalar has the wrong size") }
            type = .ecdsaP256
            material = .openSSL(try OpenSSLKey.p256(point: Array(point), scalar: scalar))
        } else if typeName.elementsEqual("ssh-rsa") {
            guard let n = p.mpint(), let e = p.mpint(), let d = p.mpint(), let iqmp = p.mpint(), let rp = p.mpint(),
                let rq = p.mpint()
            else { throw truncatedFields }
            let bits = n.isEmpty ? 0 : n.count * 8 - n[0].leadingZeroBitCount
            type = try DeployKeyType.rsa(bits: bits)
            material = .openSSL(try OpenSSLKey.rsa(n: n, e: e, d: d, iqmp: iqmp, p: rp, q: rq))
        } else {
            throw SSHKeyError.unknownKeyType(SSHKeyError.printable(typeName))
        }
        guard let commentBytes = p.string() else { throw SSHKeyError.truncated(what: "the comment") }
        guard p.remaining < blockSize else { throw SSHKeyError.badPadding }
        var expected: UInt8 = 1
        while let pad = p.uint8() {
            guard pad == expected else { throw SSHKeyError.badPadding }
            expected += 1
        }
        return Parsed(
            type: type, material: material, publicKeyBlob: Array(publicBlob),
            comment: String(decoding: commentBytes, as: UTF8.self))
    }
}
