/// Finds YAML anchors (`&name`) and aliases (`*name`) in raw text, before the text
/// reaches the YAML library.
///
/// Policy files never need them, and they are the one way a small YAML file becomes a
/// huge tree ("billion laughs"): the YAML library hashes mapping keys recursively while
/// composing, so aliases must be refused before composing, not found in the tree after.
///
/// The scan is deliberately cruder than YAML and errs one way only: it flags every `&`
/// or `*` followed by an anchor character (`A–Z a–z 0–9 _ -`, the only ones libyaml
/// accepts in anchor names) that stands where a token can start — at the start of the
/// text, after whitespace or a line break, or after one of `[ { , : ?` — whether or not
/// it is inside a quoted string or a comment. So it can refuse a harmless file (a
/// comment saying `*really*`), never pass a file with an anchor or alias. Globs are not
/// affected: in `web-*`, `"*-prod"` or `[a-z]*x` the `*` follows a name character, a
/// quote or `]`.
enum AliasScan {
    struct Finding {
        var line: Int
        var column: Int
        var token: String
    }

    static func firstAnchorOrAlias(in bytes: [UInt8]) -> Finding? {
        var line = 1
        var column = 1
        var previous: UInt8? = nil
        for (index, byte) in bytes.enumerated() {
            if byte == UInt8(ascii: "&") || byte == UInt8(ascii: "*"), index + 1 < bytes.count, isAnchorCharacter(bytes[index + 1]),
                previous.map(mayPrecedeToken) ?? true
            {
                let name = bytes[(index + 1)...].prefix(while: isAnchorCharacter).prefix(32)
                return Finding(line: line, column: column, token: String(decoding: [byte] + name, as: UTF8.self))
            }
            if byte == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {  // count Unicode scalars, as YAML marks do
                column += 1
            }
            previous = byte
        }
        return nil
    }

    private static func isAnchorCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "_"), UInt8(ascii: "-"):
            true
        default: false
        }
    }

    /// Bytes after which libyaml may start a new token. Non-ASCII bytes are included
    /// because YAML 1.1 has non-ASCII line breaks and a byte-order mark.
    private static func mayPrecedeToken(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"),
            UInt8(ascii: "["), UInt8(ascii: "{"), UInt8(ascii: ","), UInt8(ascii: ":"), UInt8(ascii: "?"):
            true
        default: byte >= 0x80
        }
    }
}
