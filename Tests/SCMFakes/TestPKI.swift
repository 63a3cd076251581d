// SCMFakes: fakes of GitHub Enterprise, GitLab and Bitbucket Server for tests (see README.md).
package import Foundation
import LatchkeyTestSupport

/// A throwaway certificate authority and server certificates, made with the `openssl`
/// tool in a temporary directory.
package struct TestPKI: Sendable {
    package let directory: String
    /// The CA's certificate (PEM): what a connection's `--ca-file` names.
    package let caCertificate: String
    private let caKey: String

    package struct ServerCertificate: Sendable {
        package let certificate: String
        package let key: String
    }

    package enum PKIError: Error, CustomStringConvertible {
        case openssl(String)
        package var description: String {
            switch self {
            case .openssl(let s): "openssl failed: \(s)"
            }
        }
    }

    /// A new CA named `name` in a fresh directory.
    package static func make(name: String = "Latchkey Test CA") throws -> TestPKI {
        let dir = NSTemporaryDirectory() + "lk-pki-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let ca = dir + "/ca.pem"
        let key = dir + "/ca.key"
        try run([
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", ca,
            "-days", "2", "-subj", "/CN=\(name)", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ])
        return TestPKI(directory: dir, caCertificate: ca, caKey: key)
    }

    /// A server certificate signed by this CA for `hosts` (DNS names or IP addresses).
    package func serverCertificate(hosts: [String] = ["localhost", "127.0.0.1"], name: String = "server") throws -> ServerCertificate {
        let key = "\(directory)/\(name).key"
        let csr = "\(directory)/\(name).csr"
        let cert = "\(directory)/\(name).pem"
        let ext = "\(directory)/\(name).ext"
        let sans = hosts.map { h in h.allSatisfy({ $0.isNumber || $0 == "." }) || h.contains(":") ? "IP:\(h)" : "DNS:\(h)" }
        try ("subjectAltName=" + sans.joined(separator: ",") + "\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
            .write(toFile: ext, atomically: true, encoding: .utf8)
        try Self.run([
            "openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr,
            "-subj", "/CN=\(hosts.first ?? "localhost")",
        ])
        try Self.run([
            "openssl", "x509", "-req", "-in", csr, "-CA", caCertificate, "-CAkey", caKey, "-CAcreateserial", "-out", cert, "-days", "2",
            "-extfile", ext,
        ])
        return ServerCertificate(certificate: cert, key: key)
    }

    package func remove() { try? FileManager.default.removeItem(atPath: directory) }

    static func run(_ argv: [String]) throws {
        let r = runCaptured(argv)
        guard r.status == 0 else { throw PKIError.openssl(String(decoding: r.err, as: UTF8.self)) }
    }
}
