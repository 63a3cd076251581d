/// Free text a client gives (build ids, usernames, scopes, repositories) is shown back to
/// admins in `session list`, `token list` and the audit log: it must be printable, so a
/// value cannot move the cursor, clear a line or reorder what a terminal shows.
package enum PrintableText {
    /// Whether every character may be shown as it is: no C0 or C1 control, no DEL, no
    /// bidirectional embedding, override or isolate, no line or paragraph separator.
    package static func isPrintable(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { scalar in
            switch scalar.value {
            case 0x00...0x1F, 0x7F...0x9F: false  // C0, DEL, C1
            case 0x200E, 0x200F, 0x061C: false  // LRM, RLM, ALM
            case 0x202A...0x202E: false  // LRE, RLE, PDF, LRO, RLO
            case 0x2066...0x2069: false  // LRI, RLI, FSI, PDI
            case 0x2028, 0x2029: false  // line and paragraph separators
            default: true
            }
        }
    }

    /// Refuses `text` (`bad_request`, naming `field`) unless it is 1…`maxCharacters`
    /// (0… with `allowEmpty`) printable characters (Unicode scalars, as JSON Schema's
    /// `maxLength` counts them).
    package static func check(_ text: String, field: String, maxCharacters: Int, allowEmpty: Bool = false) throws(APIError) {
        let n = text.unicodeScalars.count
        guard (allowEmpty ? 0 : 1)...maxCharacters ~= n else {
            throw APIError.badRequest("field '\(field)' must be \(allowEmpty ? 0 : 1)–\(maxCharacters) characters, not \(n)")
        }
        guard isPrintable(text) else {
            throw APIError.badRequest("field '\(field)' must be printable text: no control or bidirectional-override characters")
        }
    }

    /// As `check(_:field:maxCharacters:)`, bounded in UTF-8 bytes (for fields a wire
    /// format limits by bytes, such as OpenSSH certificate fields).
    package static func check(_ text: String, field: String, maxBytes: Int, allowEmpty: Bool = false) throws(APIError) {
        let n = text.utf8.count
        guard (allowEmpty ? 0 : 1)...maxBytes ~= n else {
            throw APIError.badRequest("field '\(field)' must be \(allowEmpty ? 0 : 1)–\(maxBytes) bytes, not \(n)")
        }
        guard isPrintable(text) else {
            throw APIError.badRequest("field '\(field)' must be printable text: no control or bidirectional-override characters")
        }
    }
}
