import LatchkeyStore
import NIOSSL
import PostgresNIO

/// TLS for a PostgreSQL connection, by NIOSSL, as libpq reads `sslmode`:
/// - `disable`: never TLS.
/// - `prefer`: TLS when the server offers it, the certificate not checked (libpq's default;
///   Latchkey's only on loopback).
/// - `require`: TLS or no connection, the certificate not checked (encrypted, not
///   authenticated) — unless an `sslrootcert` is given, which makes it `verify-ca`.
/// - `verify-ca`: TLS, the chain checked against `sslrootcert` (else the system's trust
///   store), any name.
/// - `verify-full`: also the host name (or IP address) in the URL must be in the certificate.
/// TLS 1.2 at least.
enum PostgresTLS {
    static func configuration(for location: PostgresLocation) throws(SQLError) -> PostgresNIO.PostgresConnection.Configuration.TLS {
        let mode = location.effectiveSSLMode
        if mode == .disable { return .disable }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        switch mode {
        case .disable: return .disable
        case .prefer, .require: tls.certificateVerification = .none
        case .verifyCA: tls.certificateVerification = .noHostnameVerification
        case .verifyFull: tls.certificateVerification = .fullVerification
        }
        if mode == .verifyCA || mode == .verifyFull, let file = location.sslRootCert {
            do {
                let roots = try NIOSSLCertificate.fromPEMFile(file)
                guard !roots.isEmpty else { throw SQLError(kind: .other, message: "sslrootcert \(file) holds no PEM certificate") }
                tls.trustRoots = .certificates(roots)
            } catch let e as SQLError {
                throw e
            } catch {
                throw SQLError(kind: .other, message: "sslrootcert \(file) cannot be read as PEM certificates (\(error)); name a PEM file of CA certificates")
            }
        }
        let context: NIOSSLContext
        do { context = try NIOSSLContext(configuration: tls) } catch {
            throw SQLError(kind: .other, message: "the TLS settings for PostgreSQL could not be made (\(error))")
        }
        return mode == .prefer ? .prefer(context) : .require(context)
    }
}
