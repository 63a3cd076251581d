import LatchkeySSH

/// The OpenSSH certificate parser: the input as a certificate blob and, when it is text,
/// as a `-cert.pub` line. A certificate that parses must keep its blob and fields when
/// its line is read back.
enum SSHCertificateFuzzTarget {
    static func run(_ input: [UInt8]) {
        if let cert = try? SSHCertificate(blob: input) {
            guard cert.blob == input else { fuzzFailure("a parsed certificate does not keep its blob") }
            guard let again = try? SSHCertificate(line: cert.line(comment: "fuzz")), again == cert else {
                fuzzFailure("a parsed certificate's line does not read back to it")
            }
        }
        if let line = String(validating: input, as: UTF8.self) { _ = try? SSHCertificate(line: line) }
    }
}
