import Foundation
import LatchkeyCrypto
import LatchkeySCM
import LatchkeyStore

/// What a talk with a connection's server needs: its adapter (with the audit observer)
/// and the active token, opened.
struct SCMSession: Sendable {
    let connection: Connection
    let adapter: any SCMServerAdapter
    let token: SecretBytes
    let tokenVersion: Int64
}

extension Vault {
    /// `LATCHKEY_SCM_CONNECT_TIMEOUT` / `LATCHKEY_SCM_REQUEST_TIMEOUT` (seconds) override
    /// the client's 5 s / 30 s; `HTTPS_PROXY` / `NO_PROXY` are read from the environment.
    static func scmSettings(_ env: [String: String] = ProcessInfo.processInfo.environment) -> SCMClientSettings {
        var s = SCMClientSettings()
        if let v = env["LATCHKEY_SCM_CONNECT_TIMEOUT"].flatMap(Double.init), v > 0 { s.connectTimeout = .milliseconds(Int64(v * 1000)) }
        if let v = env["LATCHKEY_SCM_REQUEST_TIMEOUT"].flatMap(Double.init), v > 0 { s.requestTimeout = .milliseconds(Int64(v * 1000)) }
        return s
    }

    static func scmConnection(_ c: Connection) -> SCMConnection {
        SCMConnection(name: c.name, kind: SCMServerKind(rawValue: c.kind.rawValue) ?? .githubEnterprise, apiURL: c.apiURL, caFile: c.caFile)
    }

    /// The wire to a connection's server, every attempt audited (`scm.request`) and counted
    /// (`latchkey_scm_requests_total`).
    func scmTransport(_ connection: Connection, project: String?, requestID: String?) throws(SCMError) -> any SCMTransport {
        try scmTransports.transport(
            for: Self.scmConnection(connection), settings: Self.scmSettings(),
            observer: SCMAuditObserver(
                audit: audit, logger: logger, metrics: metrics, kind: connection.kind.rawValue, project: project, requestID: requestID))
    }

    /// Opens a session with a connection's server: its client and its active token.
    /// Throws `APIError`s a client can act on (no token, bad settings).
    func scmSession(_ name: String, project: String? = nil, requestID: String?) async throws -> SCMSession {
        let (connection, version, sealed) = try await store.database.read { db in
            let (_, c) = try Connection.find(name, in: db)
            guard let v = try? SecretVersions.find(kind: .token, owner: "connection:\(c.name)", version: nil, in: db),
                let sealed = try SecretVersions.sealed(kind: .token, owner: v.owner, version: v.version, in: db)
            else {
                throw APIError(.noToken, "connection '\(c.name)' has no active token; put one with `latchkey token put \(c.name)`")
            }
            return (c, v, sealed)
        }
        let token = try openSealed(sealed, for: version)
        let client: any SCMTransport
        do throws(SCMError) {
            client = try scmTransport(connection, project: project, requestID: requestID)
        } catch {
            throw APIError.scm(error)
        }
        return SCMSession(connection: connection, adapter: SCMAdapters.make(for: client), token: token, tokenVersion: version.version)
    }

    /// What the connection's projects have turned on, for verification.
    func scmNeeds(_ connection: String) async throws -> [SCMRepositoryNeeds] {
        try await store.database.read { db in
            let hooks = Set(try SCMWebhooks.list(in: db).map(\.project))
            return try Project.all(in: db).filter { $0.connection == connection && ($0.installDeployKey || hooks.contains($0.name)) }.map {
                SCMRepositoryNeeds(
                    repository: $0.repo, installDeployKey: $0.installDeployKey, writeDeployKey: $0.deployKeyWrite, webhooks: hooks.contains($0.name))
            }
        }
    }
}

extension APIError {
    /// An SCM server's refusal or a network failure, with the client's message (the
    /// server's words, what to do): 502 when the server refused or failed (or the way to
    /// it did), 409 for a key already in use, 400 for settings that cannot work.
    static func scm(_ e: SCMError) -> APIError {
        let code: RefusalCode =
            switch e.code {
            case .unauthorized: .scmUnauthorized
            case .forbidden: .scmForbidden
            case .notFound: .scmNotFound
            case .keyInUse: .scmKeyInUse
            case .rateLimited: .scmRateLimited
            case .serverError: .scmServerError
            case .rejected: .scmRejected
            case .timeout: .scmTimeout
            case .unreachable: .scmUnreachable
            case .tls: .scmTLSFailed
            case .badResponse: .scmBadResponse
            case .configuration: .scmConfiguration
            case .unsupportedKey: .scmUnsupportedKey
            }
        return APIError(code, e.message)
    }
}
