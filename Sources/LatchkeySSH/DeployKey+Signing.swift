/// Signatures as an ssh-agent returns them: string(algorithm) ‖ string(signature).
extension DeployKey {
    /// SSH_AGENT_RSA_SHA2_256 / _512: the agent flags that pick an RSA signature hash.
    public static let rsaSHA2_256: UInt32 = 2
    public static let rsaSHA2_512: UInt32 = 4

    public func sign(_ data: [UInt8], flags: UInt32 = 0) throws -> [UInt8] {
        var w = SSHWireWriter()
        switch material {
        case .ed25519(let k):
            w.string("ssh-ed25519")
            w.string(k.sign(data))
        case .ecdsa(let k):
            let der = try k.sign(data, digest: "SHA256")
            let (r, s) = try Self.ecdsaRS(der)
            var inner = SSHWireWriter()
            inner.mpint(r)
            inner.mpint(s)
            w.string("ecdsa-sha2-nistp256")
            w.string(inner.bytes)
        case .rsa(let k):
            let (name, digest) =
                flags & Self.rsaSHA2_512 != 0 ? ("rsa-sha2-512", "SHA512")
                : flags & Self.rsaSHA2_256 != 0 ? ("rsa-sha2-256", "SHA256") : ("ssh-rsa", "SHA1")
            w.string(name)
            w.string(try k.sign(data, digest: digest))
        }
        return w.bytes
    }

    /// r and s from a DER ECDSA-Sig-Value: SEQUENCE { INTEGER r, INTEGER s }.
    static func ecdsaRS(_ der: [UInt8]) throws(SSHKeyError) -> ([UInt8], [UInt8]) {
        var i = 0
        func length() throws(SSHKeyError) -> Int {
            guard i < der.count else { throw .openSSL("short DER") }
            let first = Int(der[i]); i += 1
            if first < 0x80 { return first }
            let n = first & 0x7f
            guard n <= 2, i + n <= der.count else { throw .openSSL("bad DER length") }
            var v = 0
            for _ in 0..<n { v = v << 8 | Int(der[i]); i += 1 }
            return v
        }
        func integer() throws(SSHKeyError) -> [UInt8] {
            guard i < der.count, der[i] == 0x02 else { throw .openSSL("DER INTEGER expected") }
            i += 1
            let n = try length()
            guard i + n <= der.count else { throw .openSSL("short DER INTEGER") }
            defer { i += n }
            return Array(der[i..<(i + n)])
        }
        guard der.first == 0x30 else { throw .openSSL("DER SEQUENCE expected") }
        i = 1
        _ = try length()
        return (try integer(), try integer())
    }
}
