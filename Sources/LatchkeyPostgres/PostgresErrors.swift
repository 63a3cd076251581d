import LatchkeyStore
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO

/// PostgreSQL's failures sorted into `SQLError` kinds by SQLSTATE class, and connection
/// failures (refused, lost, TLS, authentication) into clear messages that say what to fix.
/// Messages carry the SQLSTATE and the server's primary message only: its DETAIL (which
/// quotes the failing row's values) never, and for data exceptions (class 22, whose
/// messages quote the offending input) not even the primary message.
enum PostgresErrors {
    /// Sorts an error from a statement or from connecting. `connectionLost` is true when the
    /// connection can no longer be used (the lane drops it and reconnects on next use).
    static func classify(_ error: any Error, location: PostgresLocation) -> (error: SQLError, connectionLost: Bool) {
        if let e = error as? SQLError { return (e, e.kind == .unavailable) }
        guard let psql = error as? PSQLError else {
            if error is NIOSSLError || error is NIOSSLExtraError || error is BoringSSLError {
                return (tlsError(error, location: location), true)
            }
            return (SQLError(kind: .unavailable, message: "PostgreSQL at \(endpoint(location)): \(error)"), true)
        }
        switch psql.code {
        case .server:
            let state = psql.serverInfo?[.sqlState] ?? "?????"
            let primary = psql.serverInfo?[.message] ?? ""
            let kind = kind(sqlState: state)
            let text: String
            if state.hasPrefix("22") {
                text = "SQLSTATE \(state): a value was refused by PostgreSQL (its message is withheld: it may quote a bound value)"
            } else if state.hasPrefix("28") {
                text = "PostgreSQL at \(endpoint(location)) refused role \(location.user) (SQLSTATE \(state): \(primary)); "
                    + "check the password in --database-password-file or PGPASSFILE, and pg_hba.conf for this host"
            } else if state == "3D000" {
                text = "PostgreSQL at \(endpoint(location)) has no database \(location.database) (SQLSTATE 3D000); create it (README: Running a fleet)"
            } else {
                text = "SQLSTATE \(state): \(primary)"
            }
            let lost = state.hasPrefix("08") || state.hasPrefix("57P") || state.hasPrefix("28") || state == "3D000" || state.hasPrefix("53")
            return (SQLError(kind: kind, message: text), lost)
        case .sslUnsupported:
            return (
                SQLError(
                    kind: .unavailable,
                    message: "PostgreSQL at \(endpoint(location)) does not offer TLS and sslmode=\(location.sslMode.rawValue) requires it; turn ssl on in its postgresql.conf"),
                true
            )
        case .authMechanismRequiresPassword:
            return (
                SQLError(
                    kind: .unavailable,
                    message: "PostgreSQL at \(endpoint(location)) asks role \(location.user) for a password and none was found; "
                        + "put it in a file given with --database-password-file, or in a libpq password file named by PGPASSFILE (mode 0600)"),
                true
            )
        case .saslError, .unsupportedAuthMechanism:
            return (
                SQLError(
                    kind: .unavailable,
                    message: "PostgreSQL at \(endpoint(location)) and Latchkey could not agree on authentication for role \(location.user) "
                        + "(\(psql.code)); use scram-sha-256 for it in pg_hba.conf"),
                true
            )
        case .queryCancelled:
            return (SQLError(kind: .unavailable, message: "a statement to PostgreSQL at \(endpoint(location)) was cancelled"), false)
        case .tooManyParameters:
            return (SQLError(kind: .other, message: "a statement has more than 65535 parameters"), false)
        default:
            if let underlying = psql.underlying, underlying is NIOSSLError || underlying is NIOSSLExtraError || underlying is BoringSSLError {
                return (tlsError(underlying, location: location), true)
            }
            let why = psql.underlying.map(reason) ?? "\(psql.code)"
            return (SQLError(kind: .unavailable, message: "PostgreSQL at \(endpoint(location)) cannot be reached or dropped the connection (\(why))"), true)
        }
    }

    /// Why a connection failed, in the system's words ("Connection refused": is the server
    /// running, listening there?) rather than NIO's nested description of every attempt.
    static func reason(_ underlying: any Error) -> String {
        var errors: [any Error] = [underlying]
        if let c = underlying as? NIOConnectionError {
            errors = c.connectionErrors.map(\.error) + [c.dnsAError, c.dnsAAAAError].compactMap { $0 }
            if errors.isEmpty { return "no address for \(c.host)" }
        }
        let reasons = errors.map { e in
            if let io = e as? IOError { String(cString: strerror(io.errnoCode)) } else { "\(e)" }
        }
        var seen = Set<String>()
        return reasons.filter { seen.insert($0).inserted }.joined(separator: "; ")
    }

    /// The kind for a SQLSTATE (https://www.postgresql.org/docs/current/errcodes-appendix.html).
    static func kind(sqlState s: String) -> SQLError.Kind {
        switch s {
        case "40001", "40P01": return .serialization
        case "P0001": return .constraint  // RAISE EXCEPTION: the store's triggers
        case "XX001", "XX002": return .corrupt  // data_corrupted, index_corrupted
        case "25006": return .unavailable  // read_only_sql_transaction: a standby, not the primary
        case "55P03", "57014": return .unavailable  // lock_not_available, query_canceled (timeouts)
        default: break
        }
        switch s.prefix(2) {
        case "23": return .constraint
        case "08", "53", "57", "58", "28", "3D": return .unavailable
        default: return .other
        }
    }

    private static func tlsError(_ error: any Error, location: PostgresLocation) -> SQLError {
        let text = "\(error)"
        let trust = location.sslRootCert.map { "the CA certificates in \($0)" } ?? "the system's trust store"
        if let extra = error as? NIOSSLExtraError, extra == .failedToValidateHostname {
            return SQLError(
                kind: .unavailable,
                message: "the certificate of PostgreSQL at \(endpoint(location)) does not name \(location.host) (sslmode=verify-full); "
                    + "connect by a name the certificate carries, or have it reissued with this name")
        }
        if text.contains("CERTIFICATE_VERIFY_FAILED") || text.contains("certificate") {
            return SQLError(
                kind: .unavailable,
                message: "the certificate of PostgreSQL at \(endpoint(location)) is not trusted: it is not signed by \(trust) "
                    + "(sslmode=\(location.effectiveSSLMode.rawValue)); give the server's CA with sslrootcert=CA.pem (\(text))")
        }
        return SQLError(kind: .unavailable, message: "TLS with PostgreSQL at \(endpoint(location)) failed (\(text))")
    }

    static func endpoint(_ location: PostgresLocation) -> String {
        (location.host.contains(":") ? "[\(location.host)]" : location.host) + ":\(location.port)"
    }
}
