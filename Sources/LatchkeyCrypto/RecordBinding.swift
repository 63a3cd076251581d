/// What a sealed blob belongs to. Its canonical bytes are the associated data of the
/// seal, so a blob copied onto another record (other kind, id or version) or a data
/// key moved to another key generation fails to open.
package struct RecordBinding: Sendable, Equatable {
    package var kind: String
    package var id: String
    package var version: Int64

    package init(kind: String, id: String, version: Int64) {
        self.kind = kind
        self.id = id
        self.version = version
    }

    /// Associated data for the payload: `latchkey/payload/v1` then each field
    /// length-prefixed (4-byte big-endian length), then the version as 8 bytes big-endian.
    func payloadAD() -> [UInt8] {
        var out = Self.field("latchkey/payload/v1")
        out += Self.field(kind) + Self.field(id) + Self.u64(UInt64(bitPattern: version))
        return out
    }

    /// Associated data for the wrapped data key: as the payload's, plus the generation.
    func dataKeyAD(generation: Int64) -> [UInt8] {
        var out = Self.field("latchkey/data-key/v1")
        out += Self.field(kind) + Self.field(id) + Self.u64(UInt64(bitPattern: version))
        out += Self.u64(UInt64(bitPattern: generation))
        return out
    }

    static func field(_ s: String) -> [UInt8] {
        let b = Array(s.utf8)
        return u32(UInt32(b.count)) + b
    }

    static func u32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (24 - 8 * $0)) } }
    static func u64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (56 - 8 * $0)) } }
}

extension RecordBinding {
    /// A length-prefixed field, for callers that build their own canonical encodings.
    package static func fieldBytes(_ s: String) -> [UInt8] { field(s) }
}
