/// One critical option or extension of an OpenSSH certificate (PROTOCOL.certkeys):
/// a name and, for options that carry one, a value.
///
/// On the wire each is `string name ‖ string data`; a flag (`permit-pty`) has empty
/// data, a valued option (`force-command`, `login@github.com`) has data that is itself
/// a `string` holding the value — as ssh-keygen writes `-O extension:NAME=VALUE`.
package struct SSHCertificateOption: Sendable, Equatable, Hashable, Comparable, CustomStringConvertible {
    package let name: String
    /// Nil for a flag; a value (possibly empty) otherwise.
    package let value: String?

    /// Longest name or value accepted (OpenSSH has no limit; this bounds hostile input).
    package static let maxFieldBytes = 1024

    /// A checked option: the name is printable ASCII without spaces or `=`, the value
    /// has no control characters; both at most `maxFieldBytes`.
    package init(name: String, value: String? = nil) throws(SSHKeyError) {
        guard !name.isEmpty, name.utf8.count <= Self.maxFieldBytes,
            name.utf8.allSatisfy({ (0x21...0x7e).contains($0) && $0 != UInt8(ascii: "=") })
        else {
            throw .invalidCertificateRequest(
                reason: "option name '\(SSHKeyError.printable(name.utf8))' must be 1 to \(Self.maxFieldBytes) printable ASCII characters without spaces or '='")
        }
        if let value {
            guard value.utf8.count <= Self.maxFieldBytes, !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
            else {
                throw .invalidCertificateRequest(
                    reason: "the value of option '\(name)' must be at most \(Self.maxFieldBytes) bytes without control characters")
            }
        }
        self.name = name
        self.value = value
    }

    /// `NAME` for a flag, `NAME=VALUE` otherwise (the CLI's `--cert-extension` form).
    package var description: String { value.map { "\(name)=\($0)" } ?? name }

    /// Parses the CLI form: `NAME` (a flag) or `NAME=VALUE`.
    package init(parsing text: String) throws(SSHKeyError) {
        if let eq = text.firstIndex(of: "=") {
            try self.init(name: String(text[..<eq]), value: String(text[text.index(after: eq)...]))
        } else {
            try self.init(name: text)
        }
    }

    /// Ordered by name's bytes, the order the spec requires on the wire.
    package static func < (a: Self, b: Self) -> Bool { a.name.utf8.lexicographicallyPrecedes(b.name.utf8) }

    /// The `string` that holds a list of options: sorted by name, each name at most once.
    static func encode(_ options: [SSHCertificateOption], what: String) throws(SSHKeyError) -> [UInt8] {
        try checkUnique(options, what: what)
        let sorted = options.sorted()
        var w = SSHWireWriter()
        for option in sorted {
            w.writeString(option.name)
            if let value = option.value {
                var inner = SSHWireWriter()
                inner.writeString(value)
                w.writeString(inner.bytes)
            } else {
                w.writeString([])
            }
        }
        return w.bytes
    }

    /// Refuses a list that names an option twice (the spec allows each once).
    package static func checkUnique(_ options: [SSHCertificateOption], what: String) throws(SSHKeyError) {
        let sorted = options.sorted()
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.name == b.name {
            throw .invalidCertificateRequest(reason: "\(what) '\(a.name)' given twice")
        }
    }

    /// Reads a list of options, refusing unsorted or repeated names (PROTOCOL.certkeys:
    /// "lexically ordered by name", "may only appear once").
    static func decode(_ bytes: [UInt8], what: String) throws(SSHKeyError) -> [SSHCertificateOption] {
        var r = SSHWireReader(bytes)
        var out: [SSHCertificateOption] = []
        while !r.isAtEnd {
            guard let nameBytes = r.readString(), let data = r.readString() else {
                throw .malformedCertificate(reason: "\(what) truncated")
            }
            guard let name = String(validating: nameBytes, as: UTF8.self) else {
                throw .malformedCertificate(reason: "\(what) name is not UTF-8")
            }
            var value: String?
            if !data.isEmpty {
                var inner = SSHWireReader(data)
                guard let v = inner.readUTF8String(), inner.isAtEnd else {
                    throw .malformedCertificate(reason: "\(what) '\(SSHKeyError.printable(nameBytes))' has data that is not one UTF-8 string")
                }
                value = v
            }
            let option: SSHCertificateOption
            do { option = try SSHCertificateOption(name: name, value: value) } catch {
                throw .malformedCertificate(reason: "\(what) '\(SSHKeyError.printable(nameBytes))' is not a valid option")
            }
            if let last = out.last, !(last < option) {
                throw .malformedCertificate(reason: "\(what) are not sorted by name or repeat '\(option.name)'")
            }
            out.append(option)
        }
        return out
    }
}
