extension SSHCertificate {
    /// Parses an `ssh-ed25519-cert-v01@openssh.com` blob. Every length is checked before
    /// it is read and nothing may follow the signature; principals, options and
    /// extensions are checked as `issue` checks them (UTF-8, sorted, unique), the
    /// signature key must be a plain public key Latchkey knows (not itself a
    /// certificate), and the reserved field must be empty.
    ///
    /// The CA's signature is parsed, not verified: OpenSSH verifies it when it reads the
    /// certificate (`ssh-keygen -L`, sshd), and the daemon only hands out certificates
    /// it has just signed.
    package init(blob: [UInt8]) throws(SSHKeyError) {
        guard blob.count <= Self.maxBlobBytes else {
            throw .malformedCertificate(reason: "\(blob.count) bytes; at most \(Self.maxBlobBytes)")
        }
        var r = SSHWireReader(blob)
        guard let name = r.readString() else { throw .malformedCertificate(reason: "no key type") }
        guard name == Array(Self.ed25519CertAlgorithm.utf8) else { throw .unknownKeyType(SSHKeyError.printable(name)) }
        func field<T>(_ what: String, _ read: (inout SSHWireReader) -> T?) throws(SSHKeyError) -> T {
            guard let value = read(&r) else { throw .malformedCertificate(reason: "\(what) truncated") }
            return value
        }
        let nonce = try field("the nonce") { $0.readString() }
        let pk = try field("the public key") { $0.readString() }
        guard pk.count == 32 else { throw .malformedCertificate(reason: "the ed25519 key is \(pk.count) bytes, not 32") }
        let serial = try field("the serial") { $0.readUInt64() }
        let rawKind = try field("the type") { $0.readUInt32() }
        guard let kind = Kind(rawValue: rawKind) else { throw .malformedCertificate(reason: "type \(rawKind) is neither user (1) nor host (2)") }
        let keyIDBytes = try field("the key id") { $0.readString() }
        guard let keyID = String(validating: keyIDBytes, as: UTF8.self) else { throw .malformedCertificate(reason: "the key id is not UTF-8") }
        let principalBytes = try field("the principals") { $0.readString() }
        var principals: [String] = []
        var pr = SSHWireReader(principalBytes)
        while !pr.isAtEnd {
            guard principals.count < Self.maxPrincipals else {
                throw .malformedCertificate(reason: "more than \(Self.maxPrincipals) principals")
            }
            guard let p = pr.readString() else { throw .malformedCertificate(reason: "a principal is truncated") }
            guard let text = String(validating: p, as: UTF8.self) else { throw .malformedCertificate(reason: "a principal is not UTF-8") }
            principals.append(text)
        }
        let validAfter = try field("valid after") { $0.readUInt64() }
        let validBefore = try field("valid before") { $0.readUInt64() }
        let critical = try SSHCertificateOption.decode(try field("the critical options") { $0.readString() }, what: "critical options")
        let extensions = try SSHCertificateOption.decode(try field("the extensions") { $0.readString() }, what: "extensions")
        let reserved = try field("the reserved field") { $0.readString() }
        guard reserved.isEmpty else { throw .malformedCertificate(reason: "the reserved field is not empty") }
        let signatureKey = try field("the signature key") { $0.readString() }
        do {
            _ = try SSHPublicKey.validate(blob: signatureKey)
        } catch {
            throw .malformedCertificate(reason: "the signature key is not a CA key Latchkey knows (\(error.description))")
        }
        let signature = try field("the signature") { $0.readString() }
        var sr = SSHWireReader(signature)
        guard sr.readString() != nil, sr.readString() != nil, sr.isAtEnd else {
            throw .malformedCertificate(reason: "the signature is not 'string algorithm, string signature'")
        }
        guard r.isAtEnd else { throw .trailingData(where: "after the certificate's signature") }
        self.nonce = nonce
        subjectPublicKey = pk
        self.serial = serial
        self.kind = kind
        self.keyID = keyID
        self.principals = principals
        self.validAfter = validAfter
        self.validBefore = validBefore
        criticalOptions = critical
        self.extensions = extensions
        self.signatureKey = signatureKey
        self.signature = signature
        self.blob = blob
    }

    /// Parses a `-cert.pub` line: `ssh-ed25519-cert-v01@openssh.com base64 [comment]`.
    package init(line: String) throws(SSHKeyError) {
        guard line.utf8.count <= SSHPublicKey.maxLineBytes else {
            throw .malformedCertificate(reason: "line longer than \(SSHPublicKey.maxLineBytes) bytes")
        }
        let fields = line.split(maxSplits: 2, omittingEmptySubsequences: true, whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
        guard fields.count >= 2 else { throw .malformedCertificate(reason: "expected 'type base64 [comment]'") }
        guard fields[0] == Substring(Self.ed25519CertAlgorithm) else { throw .unknownKeyType(SSHKeyError.printable(fields[0].utf8)) }
        guard let blob = Base64.decode(fields[1]) else { throw .malformedCertificate(reason: "the certificate is not valid base64") }
        try self.init(blob: blob)
    }
}
