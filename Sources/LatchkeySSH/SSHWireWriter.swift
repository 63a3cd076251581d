internal import LatchkeyCrypto

/// Writes RFC 4251 data types into a growing byte array (public data only; private
/// key material is written through `WireSink` into guarded memory).
package struct SSHWireWriter: Sendable {
    package private(set) var bytes: [UInt8] = []

    package init(reservingCapacity capacity: Int = 0) {
        bytes.reserveCapacity(capacity)
    }

    package mutating func writeUInt8(_ value: UInt8) { bytes.append(value) }

    package mutating func writeUInt32(_ value: UInt32) { appendUInt32(value) }

    package mutating func writeBytes(_ raw: some Collection<UInt8>) { bytes.append(contentsOf: raw) }

    /// A `string`: uint32 length, then the bytes.
    package mutating func writeString(_ raw: some Collection<UInt8>) {
        appendUInt32(UInt32(raw.count))
        bytes.append(contentsOf: raw)
    }

    package mutating func writeString(_ text: String) { writeString(Array(text.utf8)) }

    /// A non-negative `mpint` from its big-endian magnitude: leading zeros are
    /// stripped, and 0x00 is prefixed when the top bit is set (RFC 4251 §5).
    package mutating func writeMPInt(magnitude: [UInt8]) {
        magnitude.withUnsafeBytes { appendMPInt($0) }
    }
}

/// Where wire data goes: a public array, guarded memory, or a counter that sizes
/// guarded memory before it is filled (secrets are written twice, never resized).
protocol WireSink {
    mutating func append(_ raw: UnsafeRawBufferPointer)
}

extension WireSink {
    mutating func appendUInt32(_ value: UInt32) {
        withUnsafeBytes(of: value.bigEndian) { append($0) }
    }

    mutating func appendString(_ raw: UnsafeRawBufferPointer) {
        appendUInt32(UInt32(raw.count))
        append(raw)
    }

    mutating func appendString(_ raw: [UInt8]) { raw.withUnsafeBytes { appendString($0) } }

    mutating func appendString(_ text: StaticString) { text.withUTF8Buffer { appendString(UnsafeRawBufferPointer($0)) } }

    mutating func appendString(_ secret: SecretBytes) { secret.withUnsafeBytes { appendString($0) } }

    mutating func appendMPInt(_ magnitude: UnsafeRawBufferPointer) {
        var m = magnitude
        while let first = m.first, first == 0 { m = UnsafeRawBufferPointer(rebasing: m.dropFirst()) }
        let prefix = (m.first ?? 0) & 0x80 != 0
        appendUInt32(UInt32(m.count + (prefix ? 1 : 0)))
        if prefix { withUnsafeBytes(of: UInt8(0)) { append($0) } }
        append(m)
    }

    mutating func appendMPInt(_ secret: SecretBytes) { secret.withUnsafeBytes { appendMPInt($0) } }
}

extension SSHWireWriter: WireSink {
    mutating func append(_ raw: UnsafeRawBufferPointer) { bytes.append(contentsOf: raw) }
}

/// Counts the bytes a write would produce.
struct CountingSink: WireSink {
    var count = 0
    mutating func append(_ raw: UnsafeRawBufferPointer) { count += raw.count }
}

/// Writes into a fixed buffer sized by a `CountingSink` pass over the same writes.
struct BufferSink: WireSink {
    let buffer: UnsafeMutableRawBufferPointer
    var offset = 0

    mutating func append(_ raw: UnsafeRawBufferPointer) {
        // Sized by a counting pass over the same writes; overflow is our bug, not input's.
        precondition(raw.count <= buffer.count - offset, "wire buffer sized too small")
        guard raw.count > 0 else { return }
        UnsafeMutableRawBufferPointer(rebasing: buffer[offset..<(offset + raw.count)]).copyMemory(from: raw)
        offset += raw.count
    }
}

/// Runs `write` twice — once to count, once into guarded memory of exactly that size —
/// so secret wire data never passes through a growable array.
func secretWire(_ write: (inout any WireSink) throws -> Void) throws -> SecretBytes {
    var counter: any WireSink = CountingSink()
    try write(&counter)
    let count = (counter as? CountingSink)?.count ?? 0
    return try SecretBytes(count: count) { buffer in
        var sink: any WireSink = BufferSink(buffer: buffer)
        try write(&sink)
        precondition((sink as? BufferSink)?.offset == count, "wire writes differ between passes")
    }
}
