package import NIOCore
package import LatchkeyCrypto

/// Builds a JSON object straight into a ByteBuffer, so a released secret goes from
/// guarded memory to the socket buffer without passing through a Swift String.
struct SecretJSON {
    private(set) var buffer: ByteBuffer
    private var first = true

    init(capacity: Int = 512) {
        buffer = ByteBufferAllocator().buffer(capacity: capacity)
        buffer.writeInteger(UInt8(ascii: "{"))
    }

    mutating func field(_ name: String, _ value: String?) {
        key(name)
        guard let value else {
            buffer.writeString("null")
            return
        }
        var v = value
        v.withUTF8 { writeEscaped(UnsafeRawBufferPointer($0)) }
    }

    mutating func field(_ name: String, _ value: Int64) {
        key(name)
        buffer.writeString(String(value))
    }

    mutating func field(_ name: String, _ values: [String]) {
        key(name)
        buffer.writeInteger(UInt8(ascii: "["))
        for (i, value) in values.enumerated() {
            if i > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
            var v = value
            v.withUTF8 { writeEscaped(UnsafeRawBufferPointer($0)) }
        }
        buffer.writeInteger(UInt8(ascii: "]"))
    }

    /// The secret field, last: room for it (escaped, quoted) and the closing brace is
    /// reserved before a byte of it is written, so the buffer never grows — and never
    /// leaves a copy in freed memory — once it holds the secret.
    mutating func field(_ name: String, secret: SecretBytes) {
        key(name)
        secret.withUnsafeBytes { bytes in
            buffer.reserveCapacity(minimumWritableBytes: Self.escapedCount(bytes) + 3)
            writeEscaped(bytes)
        }
    }

    /// The length of `bytes` as `writeEscaped` writes them, without the quotes.
    static func escapedCount(_ bytes: UnsafeRawBufferPointer) -> Int {
        var n = 0
        for b in bytes {
            switch b {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), 0x0a, 0x0d, 0x09: n += 2
            case 0..<0x20: n += 6
            default: n += 1
            }
        }
        return n
    }

    mutating func finish() -> ByteBuffer {
        buffer.writeInteger(UInt8(ascii: "}"))
        return buffer
    }

    private mutating func key(_ name: String) {
        if !first { buffer.writeInteger(UInt8(ascii: ",")) }
        first = false
        buffer.writeString("\"\(name)\":")
    }

    private mutating func writeEscaped(_ bytes: UnsafeRawBufferPointer) {
        buffer.writeInteger(UInt8(ascii: "\""))
        for b in bytes {
            switch b {
            case UInt8(ascii: "\""): buffer.writeStaticString("\\\"")
            case UInt8(ascii: "\\"): buffer.writeStaticString("\\\\")
            case 0x0a: buffer.writeStaticString("\\n")
            case 0x0d: buffer.writeStaticString("\\r")
            case 0x09: buffer.writeStaticString("\\t")
            case 0..<0x20:
                buffer.writeStaticString("\\u00")
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                buffer.writeInteger(hex[Int(b >> 4)])
                buffer.writeInteger(hex[Int(b & 15)])
            default: buffer.writeInteger(b)
            }
        }
        buffer.writeInteger(UInt8(ascii: "\""))
    }
}
