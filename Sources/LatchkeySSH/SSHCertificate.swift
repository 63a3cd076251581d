internal import LatchkeyCrypto

/// An OpenSSH certificate over an ed25519 key (PROTOCOL.certkeys,
/// `ssh-ed25519-cert-v01@openssh.com`):
///
///     string "ssh-ed25519-cert-v01@openssh.com"  string nonce  string pk
///     uint64 serial  uint32 type  string key id  string valid principals
///     uint64 valid after  uint64 valid before  string critical options
///     string extensions  string reserved  string signature key  string signature
///
/// The signature is the CA's, over every field before it. `issue` builds one;
/// `init(blob:)` parses one (ours or ssh-keygen's) with every field bounded and checked.
/// A certificate holds no secret: the subject's private key stays in its `DeployKey`.
package struct SSHCertificate: Sendable, Equatable {
    /// The certificate's key type name (the `-cert-v01@openssh.com` form of ssh-ed25519).
    package static let ed25519CertAlgorithm = "ssh-ed25519-cert-v01@openssh.com"
    /// Bytes of random nonce per certificate (ssh-keygen's size).
    package static let nonceBytes = 32
    /// Longest blob accepted by the parser: an RSA-3072 CA's certificate is under 1 KiB
    /// with a few principals; this leaves room while bounding work on hostile input.
    package static let maxBlobBytes = 64 * 1024
    /// Longest key id and principal (OpenSSH has none; this bounds what we issue).
    package static let maxKeyIDBytes = 1024
    package static let maxPrincipalBytes = 256
    /// Most principals in one certificate (OpenSSH's SSHKEY_CERT_MAX_PRINCIPALS).
    package static let maxPrincipals = 256

    /// User (1) or host (2) certificate. Latchkey issues user certificates only.
    package enum Kind: UInt32, Sendable {
        case user = 1
        case host = 2
    }

    package let nonce: [UInt8]
    /// The subject's 32-byte ed25519 public key.
    package let subjectPublicKey: [UInt8]
    package let serial: UInt64
    package let kind: Kind
    package let keyID: String
    package let principals: [String]
    /// Seconds since the epoch, as on the wire (`UInt64.max` is "forever").
    package let validAfter: UInt64
    package let validBefore: UInt64
    package let criticalOptions: [SSHCertificateOption]
    package let extensions: [SSHCertificateOption]
    /// The CA's public key blob.
    package let signatureKey: [UInt8]
    /// The CA's signature blob: `string algorithm ‖ string signature`.
    package let signature: [UInt8]
    /// The whole certificate, as in the `-cert.pub` file's base64 and an agent's key blob.
    package let blob: [UInt8]

    /// What a CA certifies, checked before signing.
    package struct Request: Sendable, Equatable {
        package var serial: UInt64
        package var keyID: String
        package var principals: [String]
        package var validAfter: UInt64
        package var validBefore: UInt64
        package var criticalOptions: [SSHCertificateOption]
        package var extensions: [SSHCertificateOption]

        package init(
            serial: UInt64, keyID: String, principals: [String], validAfter: UInt64, validBefore: UInt64,
            criticalOptions: [SSHCertificateOption] = [], extensions: [SSHCertificateOption] = []
        ) {
            self.serial = serial
            self.keyID = keyID
            self.principals = principals
            self.validAfter = validAfter
            self.validBefore = validBefore
            self.criticalOptions = criticalOptions
            self.extensions = extensions
        }

        /// Refuses what would make a certificate broader than asked or that OpenSSH
        /// refuses: no principals (valid for *any* user), a principal with a comma,
        /// space or control character, an empty or inverted validity window.
        func validate() throws(SSHKeyError) {
            try SSHCertificate.validate(principals: principals)
            try SSHCertificate.validate(keyID: keyID)
            guard validAfter < validBefore else {
                throw .invalidCertificateRequest(reason: "valid after (\(validAfter)) is not before valid before (\(validBefore))")
            }
            try SSHCertificateOption.checkUnique(criticalOptions, what: "critical option")
            try SSHCertificateOption.checkUnique(extensions, what: "extension")
        }
    }

    /// Principals Latchkey certifies: at least one (none would be valid for *every*
    /// user), each printable ASCII without spaces or commas (ssh-keygen's list separator;
    /// sshd compares whole lines of AuthorizedPrincipalsFile), none twice.
    package static func validate(principals: [String]) throws(SSHKeyError) {
        guard !principals.isEmpty else {
            throw .invalidCertificateRequest(
                reason: "no principals: a certificate without principals is valid for every user; set at least one")
        }
        guard principals.count <= maxPrincipals else {
            throw .invalidCertificateRequest(reason: "\(principals.count) principals; at most \(maxPrincipals)")
        }
        for p in principals {
            guard !p.isEmpty, p.utf8.count <= maxPrincipalBytes, p.utf8.allSatisfy({ (0x21...0x7e).contains($0) && $0 != UInt8(ascii: ",") })
            else {
                throw .invalidCertificateRequest(
                    reason: "principal '\(SSHKeyError.printable(p.utf8))' must be 1 to \(maxPrincipalBytes) printable ASCII characters without spaces or commas")
            }
        }
        guard Set(principals).count == principals.count else { throw .invalidCertificateRequest(reason: "a principal is listed twice") }
    }

    /// A key id: 1 to `maxKeyIDBytes` bytes without control characters (sshd logs it).
    package static func validate(keyID: String) throws(SSHKeyError) {
        guard !keyID.isEmpty, keyID.utf8.count <= maxKeyIDBytes, !keyID.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else {
            throw .invalidCertificateRequest(reason: "the key id must be 1 to \(maxKeyIDBytes) bytes without control characters")
        }
    }

    /// Signs a user certificate for `subject` (an ed25519 key) with `authority`.
    /// The nonce is random unless given (known-answer tests).
    package static func issue(
        for subject: DeployKey, _ request: Request, by authority: CertificateAuthority, nonce: [UInt8]? = nil
    ) throws -> SSHCertificate {
        guard subject.type == .ed25519 else {
            throw SSHKeyError.unsupportedCertificateKey("Latchkey certifies ed25519 keys, not \(subject.type.rawValue)")
        }
        try request.validate()
        let nonce = nonce ?? randomBytes(nonceBytes)
        guard nonce.count == nonceBytes else { throw SSHKeyError.invalidCertificateRequest(reason: "the nonce is \(nonce.count) bytes, not \(nonceBytes)") }
        var keyReader = SSHWireReader(subject.publicKeyBlob)
        guard keyReader.readString() != nil, let pk = keyReader.readString() else {
            throw SSHKeyError.cryptoFailure(operation: "reading the subject's ed25519 public key")
        }
        var w = SSHWireWriter(reservingCapacity: 512)
        w.writeString(ed25519CertAlgorithm)
        w.writeString(nonce)
        w.writeString(pk)
        w.writeUInt64(request.serial)
        w.writeUInt32(Kind.user.rawValue)
        w.writeString(request.keyID)
        var principals = SSHWireWriter()
        for p in request.principals { principals.writeString(p) }
        w.writeString(principals.bytes)
        w.writeUInt64(request.validAfter)
        w.writeUInt64(request.validBefore)
        w.writeString(try SSHCertificateOption.encode(request.criticalOptions, what: "critical option"))
        w.writeString(try SSHCertificateOption.encode(request.extensions, what: "extension"))
        w.writeString([])  // reserved
        w.writeString(authority.publicKeyBlob)
        let signature = try authority.sign(w.bytes)
        w.writeString(signature)
        return try SSHCertificate(blob: w.bytes)
    }

    /// The certificate as a `-cert.pub` line: `ssh-ed25519-cert-v01@openssh.com AAAA… comment`.
    package func line(comment: String) -> String {
        SSHPublicKey.line(algorithm: Self.ed25519CertAlgorithm, blob: blob, comment: comment)
    }

    /// `SHA256:…` of the subject key, as `ssh-keygen -L` prints after "Public key: ED25519-CERT".
    package var subjectFingerprint: String {
        var w = SSHWireWriter()
        w.writeString("ssh-ed25519")
        w.writeString(subjectPublicKey)
        return SSHFingerprint.sha256(w.bytes)
    }

    /// `SHA256:…` of the signing CA, as `ssh-keygen -L` prints after "Signing CA".
    package var signatureKeyFingerprint: String { SSHFingerprint.sha256(signatureKey) }

    /// The signature's algorithm name (`ssh-ed25519`, `ecdsa-sha2-nistp256`, `rsa-sha2-512`).
    package var signatureAlgorithm: String {
        var r = SSHWireReader(signature)
        return r.readUTF8String() ?? ""
    }
}

extension SSHWireWriter {
    package mutating func writeUInt64(_ value: UInt64) {
        writeUInt32(UInt32(truncatingIfNeeded: value >> 32))
        writeUInt32(UInt32(truncatingIfNeeded: value))
    }
}

extension SSHWireReader {
    package mutating func readUInt64() -> UInt64? {
        let start = self
        guard let high = readUInt32() else { return nil }
        guard let low = readUInt32() else {
            self = start
            return nil
        }
        return UInt64(high) << 32 | UInt64(low)
    }
}
