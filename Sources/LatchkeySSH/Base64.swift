internal import CSodium
internal import LatchkeyCrypto

/// Base64 (RFC 4648 alphabet) through libsodium, whose decoder is constant-time and
/// refuses non-canonical input (wrong padding, stray bits).
enum Base64 {
    static func encode(_ bytes: [UInt8], padded: Bool = true) -> String {
        SodiumReady.ensure()
        let variant = padded ? sodium_base64_VARIANT_ORIGINAL : sodium_base64_VARIANT_ORIGINAL_NO_PADDING
        let capacity = sodium_base64_encoded_len(bytes.count, variant)  // includes the NUL
        var out = [CChar](repeating: 0, count: capacity)
        bytes.withUnsafeBufferPointer { b in
            _ = sodium_bin2base64(&out, capacity, b.baseAddress, b.count, variant)
        }
        return String(decoding: out.prefix(capacity - 1).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Decodes padded base64; nil on any invalid character or padding.
    static func decode(_ text: some StringProtocol) -> [UInt8]? {
        SodiumReady.ensure()
        let chars = Array(text.utf8)
        var out = [UInt8](repeating: 0, count: chars.count / 4 * 3 + 3)
        var length = 0
        let rc = chars.withUnsafeBufferPointer { c in
            c.withMemoryRebound(to: CChar.self) { c in
                sodium_base642bin(&out, out.count, c.baseAddress, c.count, nil, &length, nil, sodium_base64_VARIANT_ORIGINAL)
            }
        }
        guard rc == 0 else { return nil }
        return Array(out.prefix(length))
    }

    /// Encodes secret bytes into guarded memory (no NUL terminator).
    static func encode(_ secret: SecretBytes) throws -> SecretBytes {
        let variant = sodium_base64_VARIANT_ORIGINAL
        let capacity = sodium_base64_encoded_len(secret.count, variant)
        let withNUL = try SecretBytes(count: capacity) { out in
            secret.withUnsafeBytes { s in
                _ = sodium_bin2base64(
                    out.baseAddress!.assumingMemoryBound(to: CChar.self), capacity,
                    s.baseAddress?.assumingMemoryBound(to: UInt8.self), s.count, variant)
            }
        }
        return try withNUL.slice(0..<(capacity - 1))
    }

    /// Decodes secret base64 text (line breaks ignored) into guarded memory; nil when invalid.
    static func decode(_ text: UnsafeRawBufferPointer) throws -> SecretBytes? {
        let capacity = text.count / 4 * 3 + 3
        var length = 0
        var rc: Int32 = -1
        let full = try SecretBytes(count: capacity) { out in
            rc = sodium_base642bin(
                out.baseAddress!.assumingMemoryBound(to: UInt8.self), capacity,
                text.baseAddress?.assumingMemoryBound(to: CChar.self), text.count, "\r\n", &length, nil,
                sodium_base64_VARIANT_ORIGINAL)
        }
        guard rc == 0 else { return nil }
        return try full.slice(0..<length)
    }
}
