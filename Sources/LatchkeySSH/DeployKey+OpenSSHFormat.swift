public import LatchkeyCrypto

/// The unencrypted `openssh-key-v1` private key format (OpenSSH's PROTOCOL.key):
///
///     "openssh-key-v1\0" string("none") string("none") string("") uint32(1)
///     string(public key blob) string(private section)
///     private section = uint32 check, uint32 check (equal), key fields, string comment,
///                       padding 1, 2, 3, … to a multiple of 8
///
/// armoured as base64 wrapped at 70 columns between BEGIN/END lines, with a final newline.
extension DeployKey {
    static let magic = Array("openssh-key-v1".utf8) + [0]
    static let begin = Array("-----BEGIN OPENSSH PRIVATE KEY-----\n".utf8)
    static let end = Array("-----END OPENSSH PRIVATE KEY-----\n".utf8)
    static let maxPEMBytes = 64 * 1024

    /// The private key as OpenSSH writes it, in guarded memory.
    public func openSSHPrivateKey(comment: String) throws -> SecretBytes {
        var section = SSHWireWriter()
        defer { section.wipe() }
        let check = UInt32.random(in: 0...UInt32.max)
        section.uint32(check)
        section.uint32(check)
        section.string(type.sshAlgorithm)
        switch material {
        case .ed25519(let k):
            section.string(k.publicKey)
            try k.secretKey.withUnsafeBytes { sk in
                section.string(Array(sk))  // seed ‖ public key, as OpenSSH keeps it
            }
        case .ecdsa(let k):
            section.string("nistp256")
            section.string(try k.octets("pub"))
            var d = try k.number("priv")
            section.mpint(d)
            wipe(&d)
        case .rsa(let k):
            var parts = [try k.number("n"), try k.number("e"), try k.number("d"), try k.number("rsa-coefficient1"),
                         try k.number("rsa-factor1"), try k.number("rsa-factor2")]
            for p in parts { section.mpint(p) }
            for i in parts.indices { wipe(&parts[i]) }
        }
        section.string(comment)
        var pad: UInt8 = 1
        while section.bytes.count % 8 != 0 {
            section.byte(pad)
            pad += 1
        }
        var outer = SSHWireWriter()
        defer { outer.wipe() }
        outer.raw(Self.magic)
        outer.string("none")
        outer.string("none")
        outer.string([UInt8]())
        outer.uint32(1)
        outer.string(publicKeyBlob)
        outer.string(section.bytes)
        var b64 = Base64.encode(outer.bytes)
        defer { wipe(&b64) }
        let lines = (b64.count + 69) / 70
        let total = Self.begin.count + b64.count + lines + Self.end.count
        return try SecretBytes(count: total) { out in
            var i = 0
            func put(_ bytes: ArraySlice<UInt8>) {
                for b in bytes { out[i] = b; i += 1 }
            }
            put(Self.begin[...])
            var at = 0
            while at < b64.count {
                put(b64[at..<min(at + 70, b64.count)])
                put([10][...])
                at += 70
            }
            put(Self.end[...])
        }
    }

    /// Parses an unencrypted openssh-key-v1 PEM (Latchkey's or ssh-keygen's). Anything
    /// else — encrypted, truncated, padded wrongly, with trailing bytes or mismatched
    /// check integers, or whose public and private halves disagree — is refused.
    public init(openSSHPrivateKey pem: SecretBytes) throws {
        guard pem.count <= Self.maxPEMBytes else { throw SSHKeyError.notOpenSSHKey("larger than 64 KiB") }
        var body: [UInt8] = try pem.withUnsafeBytes { raw throws(SSHKeyError) in
            var text = Array(raw)
            defer { wipe(&text) }
            while let last = text.last, last == 10 || last == 13 || last == 32 { text.removeLast() }
            let head = Self.begin.dropLast()
            let foot = Self.end.dropLast()
            guard text.starts(with: head) else { throw .notOpenSSHKey("no BEGIN OPENSSH PRIVATE KEY line") }
            guard text.count >= head.count + foot.count, text.suffix(foot.count).elementsEqual(foot) else {
                throw .notOpenSSHKey("no END OPENSSH PRIVATE KEY line")
            }
            let inner = Array(text[head.count..<(text.count - foot.count)])
            guard let decoded = Base64.decode(inner) else { throw .notOpenSSHKey("the body is not base64") }
            return decoded
        }
        defer { wipe(&body) }
        guard body.starts(with: Self.magic) else { throw SSHKeyError.notOpenSSHKey("missing openssh-key-v1 magic") }
        var r = SSHWireReader(Array(body.dropFirst(Self.magic.count)))
        let cipher = try r.text("cipher name")
        let kdf = try r.text("kdf name")
        _ = try r.string("kdf options")
        guard cipher == "none", kdf == "none" else { throw SSHKeyError.encrypted }
        guard try r.uint32("key count") == 1 else { throw SSHKeyError.notOpenSSHKey("exactly one key is supported") }
        let publicBlob = try r.string("public key")
        var section = try r.string("private section")
        defer { wipe(&section) }
        guard r.isAtEnd else { throw SSHKeyError.trailingData("the private section") }
        guard section.count % 8 == 0 else { throw SSHKeyError.badPadding }
        var p = SSHWireReader(section)
        guard try p.uint32("check") == (try p.uint32("check")) else { throw SSHKeyError.checkMismatch }
        let algorithm = try p.text("key type")
        let key: DeployKey
        switch algorithm {
        case "ssh-ed25519":
            let pk = try p.string("ed25519 public key")
            var sk = try p.string("ed25519 private key")
            defer { wipe(&sk) }
            guard pk.count == 32, sk.count == 64, Array(sk[32...]) == pk else { throw SSHKeyError.inconsistent("ed25519 key sizes or halves") }
            var seed = Array(sk[0..<32])
            let signing = try Ed25519SigningKey(seed: try SecretBytes(consuming: &seed))
            guard signing.publicKey == pk else { throw SSHKeyError.inconsistent("ed25519 public key does not match its seed") }
            key = try DeployKey(type: .ed25519, material: .ed25519(signing))
        case "ecdsa-sha2-nistp256":
            guard try p.text("curve") == "nistp256" else { throw SSHKeyError.unsupportedKeyType("ecdsa curve") }
            let q = try p.string("ecdsa point")
            var d = try p.mpint("ecdsa scalar")
            defer { wipe(&d) }
            guard q.count == 65, q.first == 4 else { throw SSHKeyError.inconsistent("ecdsa point is not uncompressed P-256") }
            key = try DeployKey(type: .ecdsaP256, material: .ecdsa(
                try OpenSSLKey.fromParts(algorithm: "EC", numbers: [("priv", d)], strings: [("group", "P-256")], octets: [("pub", q)])))
        case "ssh-rsa":
            var n = try p.mpint("rsa n"), e = try p.mpint("rsa e"), d = try p.mpint("rsa d")
            var iqmp = try p.mpint("rsa iqmp"), pp = try p.mpint("rsa p"), qq = try p.mpint("rsa q")
            defer { wipe(&d); wipe(&iqmp); wipe(&pp); wipe(&qq); wipe(&n); wipe(&e) }
            let bits = (n.count * 8) - (n.first.map { $0.leadingZeroBitCount } ?? 8)
            let type: DeployKeyType
            switch bits {
            case 3072: type = .rsa3072
            case 4096: type = .rsa4096
            default: throw SSHKeyError.unsupportedKeyType("ssh-rsa with \(bits) bits (3072 or 4096 are supported)")
            }
            var (dp, dq) = try OpenSSLKey.crtExponents(d: d, p: pp, q: qq)
            defer { wipe(&dp); wipe(&dq) }
            key = try DeployKey(type: type, material: .rsa(try OpenSSLKey.fromParts(algorithm: "RSA", numbers: [
                ("n", n), ("e", e), ("d", d), ("rsa-factor1", pp), ("rsa-factor2", qq),
                ("rsa-exponent1", dp), ("rsa-exponent2", dq), ("rsa-coefficient1", iqmp),
            ])))
        default:
            throw SSHKeyError.unsupportedKeyType(algorithm)
        }
        _ = try p.string("comment")
        var expected: UInt8 = 1
        while !p.isAtEnd {
            guard try p.byte("padding") == expected else { throw SSHKeyError.badPadding }
            expected += 1
        }
        guard expected <= 8 else { throw SSHKeyError.badPadding }
        guard key.publicKeyBlob == publicBlob else { throw SSHKeyError.inconsistent("the public key does not match the private key") }
        self = key
    }
}
