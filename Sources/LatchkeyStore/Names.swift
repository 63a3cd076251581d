/// Validation of the names admins give things. Errors say which characters are allowed.
package enum Names {
    /// Project and connection names: 1–64 of `A–Z a–z 0–9 . _ -`, starting with a letter
    /// or digit (so a name is never a path, a flag or a glob).
    package static func validate(_ name: String, what: String) throws(StoreError) {
        let b = Array(name.utf8)
        guard (1...64).contains(b.count), isAlnum(b[0]), b.allSatisfy({ isAlnum($0) || $0 == 46 || $0 == 95 || $0 == 45 }) else {
            throw .invalid(
                "\(what) name '\(printable(name))' is not allowed: use 1–64 letters, digits, '.', '_' or '-', starting with a letter or digit")
        }
    }

    static func isAlnum(_ c: UInt8) -> Bool { (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) }

    /// A name shown back in an error: at most 64 characters, control characters escaped.
    package static func printable(_ s: String) -> String {
        var out = ""
        for scalar in s.unicodeScalars.prefix(64) {
            if scalar.value < 0x20 || scalar.value == 0x7f { out += "\\u{\(String(scalar.value, radix: 16))}" } else { out.unicodeScalars.append(scalar) }
        }
        return s.unicodeScalars.count > 64 ? out + "…" : out
    }
}
