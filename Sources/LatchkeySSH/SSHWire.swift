/// Reads the SSH wire encoding (RFC 4251). Every read is bounds-checked and throws on
/// short input; lengths are checked against what is left before anything is copied.
public struct SSHWireReader {
    private let bytes: [UInt8]
    public private(set) var offset = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var remaining: Int { bytes.count - offset }
    public var isAtEnd: Bool { offset == bytes.count }

    public mutating func byte(_ what: String = "byte") throws(SSHKeyError) -> UInt8 {
        guard remaining >= 1 else { throw .truncated(what) }
        defer { offset += 1 }
        return bytes[offset]
    }

    public mutating func uint32(_ what: String = "uint32") throws(SSHKeyError) -> UInt32 {
        guard remaining >= 4 else { throw .truncated(what) }
        defer { offset += 4 }
        return UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
    }

    public mutating func string(_ what: String = "string") throws(SSHKeyError) -> [UInt8] {
        let n = Int(try uint32(what))
        guard n <= remaining else { throw .truncated(what) }
        defer { offset += n }
        return Array(bytes[offset..<(offset + n)])
    }

    public mutating func text(_ what: String = "string") throws(SSHKeyError) -> String {
        String(decoding: try string(what), as: UTF8.self)
    }

    /// An mpint as unsigned big-endian magnitude (negative values are refused).
    public mutating func mpint(_ what: String = "mpint") throws(SSHKeyError) -> [UInt8] {
        var b = try string(what)
        if let first = b.first, first & 0x80 != 0 { throw .inconsistent("negative \(what)") }
        while b.first == 0 { b.removeFirst() }
        return b
    }

    public mutating func raw(_ n: Int, _ what: String) throws(SSHKeyError) -> [UInt8] {
        guard n >= 0, n <= remaining else { throw .truncated(what) }
        defer { offset += n }
        return Array(bytes[offset..<(offset + n)])
    }

    public mutating func rest() -> [UInt8] {
        defer { offset = bytes.count }
        return Array(bytes[offset...])
    }
}

/// Writes the SSH wire encoding.
public struct SSHWireWriter {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public mutating func byte(_ b: UInt8) { bytes.append(b) }

    public mutating func uint32(_ v: UInt32) {
        bytes += [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)]
    }

    public mutating func string(_ s: [UInt8]) {
        uint32(UInt32(s.count))
        bytes += s
    }

    public mutating func string(_ s: String) { string(Array(s.utf8)) }

    /// An mpint from an unsigned big-endian magnitude: leading zeros stripped, then a
    /// 0x00 prefix when the top bit is set.
    public mutating func mpint(_ magnitude: [UInt8]) {
        var m = magnitude[...]
        while m.first == 0 { m = m.dropFirst() }
        if let f = m.first, f & 0x80 != 0 {
            uint32(UInt32(m.count + 1))
            bytes.append(0)
        } else {
            uint32(UInt32(m.count))
        }
        bytes += m
    }

    public mutating func raw(_ b: [UInt8]) { bytes += b }

    /// Wipes what was written (for buffers that held private material).
    public mutating func wipe() {
        bytes.withUnsafeMutableBytes { raw in for i in raw.indices { raw[i] = 0 } }
        bytes.removeAll()
    }
}
