internal import CSodium

/// Base64 through libsodium, so private key material never passes through Foundation's
/// unwipeable buffers.
enum Base64 {
    static func encode(_ bin: [UInt8]) -> [UInt8] {
        let variant = Int32(sodium_base64_VARIANT_ORIGINAL)
        var out = [UInt8](repeating: 0, count: sodium_base64_encoded_len(bin.count, variant))
        _ = out.withUnsafeMutableBufferPointer { o in
            bin.withUnsafeBufferPointer { sodium_bin2base64(UnsafeMutableRawPointer(o.baseAddress!).assumingMemoryBound(to: CChar.self), o.count, $0.baseAddress, $0.count, variant) }
        }
        out.removeLast()  // the terminating NUL
        return out
    }

    /// Decodes, ignoring newlines; nil on any other non-base64 byte or bad padding.
    static func decode(_ text: [UInt8]) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: text.count * 3 / 4 + 3)
        var len = 0
        var end: UnsafePointer<CChar>?
        let rc = out.withUnsafeMutableBufferPointer { o in
            text.withUnsafeBufferPointer { t in
                t.baseAddress!.withMemoryRebound(to: CChar.self, capacity: t.count) {
                    sodium_base642bin(o.baseAddress!, o.count, $0, t.count, "\n\r", &len, &end, Int32(sodium_base64_VARIANT_ORIGINAL))
                }
            }
        }
        guard rc == 0, let end, end == text.withUnsafeBufferPointer({ UnsafeRawPointer($0.baseAddress! + $0.count).assumingMemoryBound(to: CChar.self) }) else {
            return nil
        }
        return Array(out[0..<len])
    }

    /// Unpadded base64 for fingerprints (`SHA256:…`).
    static func unpadded(_ bin: [UInt8]) -> String {
        var s = encode(bin)
        while s.last == UInt8(ascii: "=") { s.removeLast() }
        return String(decoding: s, as: UTF8.self)
    }
}

enum Digest {
    static func sha256(_ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(crypto_hash_sha256_BYTES))
        _ = crypto_hash_sha256(&out, data, UInt64(data.count))
        return out
    }
}
