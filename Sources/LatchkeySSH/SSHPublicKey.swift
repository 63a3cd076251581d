/// An SSH public key: the type, the wire blob, and the comment of an
/// `authorized_keys` line (`ssh-ed25519 AAAA… latchkey:web:v1`).
package struct SSHPublicKey: Sendable, Equatable {
    package let type: DeployKeyType
    package let blob: [UInt8]
    package let comment: String

    /// Longest line accepted: an RSA-4096 line is about 730 bytes, so this leaves
    /// room for long comments while bounding work on hostile input.
    package static let maxLineBytes = 16 * 1024

    /// Parses `type base64 [comment]`. Options before the type (as in some
    /// `authorized_keys` files) are not accepted; the blob must be well formed and
    /// its type must match the line's.
    package init(authorizedKeysLine line: String) throws(SSHKeyError) {
        guard line.utf8.count <= Self.maxLineBytes else {
            throw .malformedPublicKey(reason: "line longer than \(Self.maxLineBytes) bytes")
        }
        var text = Substring(line)
        while let last = text.last, last == "\n" || last == "\r" { text = text.dropLast() }
        let fields = text.split(maxSplits: 2, omittingEmptySubsequences: true, whereSeparator: { $0 == " " || $0 == "\t" })
        guard fields.count >= 2 else { throw .malformedPublicKey(reason: "expected 'type base64 [comment]'") }
        let algorithm = String(fields[0])
        guard DeployKeyType.allCases.contains(where: { $0.sshAlgorithm == algorithm }) else {
            throw .unknownKeyType(SSHKeyError.printable(algorithm.utf8))
        }
        guard let blob = Base64.decode(fields[1]) else { throw .malformedPublicKey(reason: "the key is not valid base64") }
        let type = try Self.validate(blob: blob)
        guard type.sshAlgorithm == algorithm else {
            throw .malformedPublicKey(reason: "the line says \(algorithm) but the key is \(type.sshAlgorithm)")
        }
        let comment = fields.count == 3 ? String(fields[2]).trimmingTrailingWhitespace() : ""
        self.init(type: type, blob: blob, comment: comment)
    }

    /// A public key from its wire blob.
    package init(blob: [UInt8], comment: String = "") throws(SSHKeyError) {
        self.init(type: try Self.validate(blob: blob), blob: blob, comment: comment)
    }

    /// A key whose blob is known to be well formed (our own).
    init(type: DeployKeyType, blob: [UInt8], comment: String) {
        self.type = type
        self.blob = blob
        self.comment = comment
    }

    /// `SHA256:<unpadded base64>`, as `ssh-keygen -lf` prints it.
    package var fingerprint: String { SSHFingerprint.sha256(blob) }

    /// The `authorized_keys` line (the comment, if any, after a space).
    package var authorizedKeysLine: String {
        Self.line(algorithm: type.sshAlgorithm, blob: blob, comment: comment)
    }

    static func line(algorithm: String, blob: [UInt8], comment: String) -> String {
        // A line break or other control character in a comment would split or corrupt the line.
        let safe = String(String.UnicodeScalarView(comment.unicodeScalars.map { $0.properties.generalCategory == .control ? "?" : $0 }))
        let head = algorithm + " " + Base64.encode(blob)
        return safe.isEmpty ? head : head + " " + safe
    }

    /// Checks a public key blob's structure and returns its type. Every field is read
    /// with a bounds check and nothing may follow the key.
    static func validate(blob: [UInt8]) throws(SSHKeyError) -> DeployKeyType {
        var r = SSHWireReader(blob)
        guard let name = r.readString() else { throw .malformedPublicKey(reason: "no key type") }
        let type: DeployKeyType
        switch String(decoding: name, as: UTF8.self) {
        case "ssh-ed25519":
            guard let pk = r.readString() else { throw .malformedPublicKey(reason: "ed25519 key truncated") }
            guard pk.count == 32 else { throw .malformedPublicKey(reason: "ed25519 key is \(pk.count) bytes, not 32") }
            type = .ed25519
        case "ecdsa-sha2-nistp256":
            guard let curve = r.readString(), let point = r.readString() else {
                throw .malformedPublicKey(reason: "ECDSA key truncated")
            }
            guard curve == Array("nistp256".utf8) else {
                throw .malformedPublicKey(reason: "curve '\(SSHKeyError.printable(curve))' is not nistp256")
            }
            guard point.count == SSHName.p256PointBytes, point.first == 0x04 else {
                throw .malformedPublicKey(reason: "the ECDSA point is not an uncompressed P-256 point")
            }
            type = .ecdsaP256
        case "ssh-rsa":
            guard let e = r.readMPInt(), let n = r.readMPInt() else { throw .malformedPublicKey(reason: "RSA key truncated") }
            guard let last = e.last, last & 1 == 1 else { throw .malformedPublicKey(reason: "RSA exponent is even") }
            let bits = n.isEmpty ? 0 : n.count * 8 - n[0].leadingZeroBitCount
            type = try DeployKeyType.rsa(bits: bits)
        default:
            throw .unknownKeyType(SSHKeyError.printable(name))
        }
        guard r.isAtEnd else { throw .trailingData(where: "after the public key") }
        return type
    }
}

extension String {
    func trimmingTrailingWhitespace() -> String {
        var s = Substring(self)
        while let last = s.last, last == " " || last == "\t" { s = s.dropLast() }
        return String(s)
    }
}
