/// Reads RFC 4251 data types (`byte`, `uint32`, `string`, `mpint`) from public bytes.
///
/// Every read checks the length it needs first: when the bytes are short it returns
/// nil and leaves the position where it was. Nothing traps on input, and no read
/// allocates more than the bytes already in hand.
package struct SSHWireReader: Sendable {
    package let bytes: [UInt8]
    package private(set) var offset: Int = 0

    package init(_ bytes: [UInt8]) { self.bytes = bytes }

    package var remaining: Int { bytes.count - offset }
    package var isAtEnd: Bool { offset == bytes.count }

    package mutating func readUInt8() -> UInt8? {
        withCursor { $0.uint8() }
    }

    package mutating func readUInt32() -> UInt32? {
        withCursor { $0.uint32() }
    }

    /// `count` raw bytes.
    package mutating func readBytes(_ count: Int) -> [UInt8]? {
        withCursor { $0.bytes(count).map { Array($0) } }
    }

    /// A `string`: uint32 length, then that many bytes.
    package mutating func readString() -> [UInt8]? {
        withCursor { $0.string().map { Array($0) } }
    }

    /// A `string` that must be UTF-8.
    package mutating func readUTF8String() -> String? {
        withCursor { c in c.string().flatMap { String(validating: $0, as: UTF8.self) } }
    }

    /// A non-negative `mpint`, as its big-endian magnitude without leading zeros
    /// (zero is empty). Nil when short or negative.
    package mutating func readMPInt() -> [UInt8]? {
        withCursor { $0.mpint().map { Array($0) } }
    }

    private mutating func withCursor<R>(_ body: (inout WireCursor) -> R?) -> R? {
        let start = offset
        return bytes.withUnsafeBytes { raw in
            var cursor = WireCursor(raw, offset: start)
            guard let value = body(&cursor) else { return nil }
            offset = cursor.offset
            return value
        }
    }
}

/// The reader's core over raw memory, shared with the private-key parser so secret
/// bytes are read in place, never copied into arrays. Returned buffers are views
/// into `buffer`, valid as long as it is.
struct WireCursor {
    let buffer: UnsafeRawBufferPointer
    private(set) var offset: Int

    init(_ buffer: UnsafeRawBufferPointer, offset: Int = 0) {
        self.buffer = buffer
        self.offset = offset
    }

    var remaining: Int { buffer.count - offset }
    var isAtEnd: Bool { offset == buffer.count }

    mutating func bytes(_ count: Int) -> UnsafeRawBufferPointer? {
        guard count >= 0, count <= remaining else { return nil }
        let view = UnsafeRawBufferPointer(rebasing: buffer[offset..<(offset + count)])
        offset += count
        return view
    }

    mutating func uint8() -> UInt8? {
        bytes(1).map { $0[0] }
    }

    mutating func uint32() -> UInt32? {
        bytes(4).map { b in UInt32(b[0]) << 24 | UInt32(b[1]) << 16 | UInt32(b[2]) << 8 | UInt32(b[3]) }
    }

    mutating func string() -> UnsafeRawBufferPointer? {
        let start = offset
        guard let length = uint32(), let view = bytes(Int(length)) else {
            offset = start
            return nil
        }
        return view
    }

    /// A non-negative mpint's magnitude, leading zeros dropped (OpenSSH accepts
    /// redundant zeros, so we do too). Negative values are refused.
    mutating func mpint() -> UnsafeRawBufferPointer? {
        let start = offset
        guard var view = string() else { return nil }
        if let first = view.first, first & 0x80 != 0 {
            offset = start
            return nil
        }
        while let first = view.first, first == 0 { view = UnsafeRawBufferPointer(rebasing: view.dropFirst()) }
        return view
    }
}

extension UnsafeRawBufferPointer {
    func elementsEqual(_ text: StaticString) -> Bool {
        text.withUTF8Buffer { self.elementsEqual($0) }
    }
}
