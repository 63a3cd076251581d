internal import AsyncHTTPClient
internal import NIOCore
internal import NIOPosix
internal import NIOHTTP1
internal import NIOSSL
package import LatchkeyCrypto
package import LatchkeySCM
import Foundation

/// The outbound client of one SCM connection (see the module comment): the
/// `SCMTransport` the adapters talk through.
package final class SCMClient: SCMTransport {
    package let connection: SCMConnection
    package let settings: SCMClientSettings
    /// `https://HOST[:PORT]`: the only place a token is ever sent.
    package let origin: String
    /// The path requests are relative to (`/api/v3`, `/api/v4`, or `/rest` for
    /// Bitbucket, whose keys and webhook APIs live beside `/rest/api/1.0`).
    package let basePath: String
    private let host: String
    private let port: Int
    private let tls: TLSConfiguration
    private let http: HTTPClient
    private let state: SCMClientState
    private let observer: (any SCMRequestObserver)?
    private let retry: RetryPolicy

    /// Checks the connection's URL (https, a host, nothing else) and CA file.
    package init(connection: SCMConnection, settings: SCMClientSettings = .init(), observer: (any SCMRequestObserver)? = nil)
        throws(SCMError)
    {
        let where_ = "\(connection.kind.displayName) connection \(connection.name)"
        guard let u = URLComponents(string: connection.apiURL), let host = u.host, !host.isEmpty else {
            throw SCMError(.configuration, "\(where_): API URL '\(ServerMessage.cap(connection.apiURL))' is not a URL; set one with `latchkey connection set \(connection.name) --api-url https://HOST/…`")
        }
        guard u.scheme?.lowercased() == "https" else {
            throw SCMError(.configuration, "\(where_): API URL must use https:// (tokens never travel in clear); set one with `latchkey connection set \(connection.name) --api-url https://…`")
        }
        guard u.user == nil, u.password == nil, u.query == nil, u.fragment == nil else {
            throw SCMError(.configuration, "\(where_): API URL must not carry credentials, a query or a fragment")
        }
        self.connection = connection
        self.settings = settings
        self.host = host
        port = u.port ?? 443
        origin = "https://" + (host.contains(":") ? "[\(host)]" : host) + (u.port.map { ":\($0)" } ?? "")
        var path = u.percentEncodedPath
        while path.hasSuffix("/") { path.removeLast() }
        if connection.kind == .bitbucketServer {
            for suffix in ["/api/1.0", "/api/latest"] where path.hasSuffix(suffix) {
                path.removeLast(suffix.count)
            }
        }
        basePath = path

        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        tls.certificateVerification = .fullVerification  // chain and host name, always
        if let caFile = connection.caFile {
            tls.trustRoots = .certificates(try Self.loadCertificates(caFile, connection: connection))
        }
        self.tls = tls
        http = HTTPClientPool.client(
            for: .init(
                proxy: settings.proxy.proxy(forHost: host, port: port),
                connectTimeoutMilliseconds: Int64(settings.connectTimeout / .milliseconds(1)),
                poolSize: max(1, settings.maxInFlight)))
        state = SCMClientState(maxInFlight: settings.maxInFlight)
        self.observer = observer
        retry = RetryPolicy(settings: settings)
    }

    /// The CA certificates of a PEM file, or a clear error.
    static func loadCertificates(_ path: String, connection: SCMConnection) throws(SCMError) -> [NIOSSLCertificate] {
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(path)
        } catch {
            throw SCMError(.configuration, "connection \(connection.name): --ca-file \(ServerMessage.cap(path)) cannot be read as PEM certificates (\(ServerMessage.cap(String(describing: error)))); give a readable PEM file of the server's CA")
        }
        guard !certificates.isEmpty else {
            throw SCMError(.configuration, "connection \(connection.name): --ca-file \(ServerMessage.cap(path)) holds no certificate; give a PEM file with the server's CA certificate")
        }
        return certificates
    }

    /// Checks a CA file without a client (for `connection add|set --ca-file`).
    package static func validateCAFile(_ path: String, connection: String) throws(SCMError) {
        _ = try loadCertificates(path, connection: SCMConnection(name: connection, kind: .githubEnterprise, apiURL: "https://x"))
    }

    /// Sends a request (with retries) and returns the server's final answer, whatever
    /// its status; transport failures throw. The token, if given, is sent as
    /// `Authorization: Bearer …` to `origin` and nowhere else.
    package func send(_ request: SCMRequest, token: SecretBytes?) async throws(SCMError) -> SCMResponse {
        var attempt = 0
        while true {
            attempt += 1
            if let wait = await state.pauseRemaining() {
                guard wait <= settings.maxServerWait else { throw rateLimitError(request, wait: wait) }
                try? await Task.sleep(for: wait)
            }
            await state.acquire()
            let started = ContinuousClock.now
            let outcome = await perform(request, token: token)
            await state.release()
            let duration = ContinuousClock.now - started
            switch outcome {
            case .success(let response):
                await observer?.requestFinished(
                    .init(
                        connection: connection.name, method: request.method.rawValue, path: request.path,
                        status: response.status, duration: duration, attempt: attempt, failure: nil))
                let spent = RetryPolicy.rateLimitReset(response)
                if let spent, spent > .zero { await state.pause(until: .now + spent) }
                let limited = response.status == 429 || (response.status == 403 && spent != nil)
                if (limited || retry.shouldRetry(status: response.status, method: request.method)), attempt < settings.maxAttempts {
                    let wait = RetryPolicy.serverWait(response) ?? retry.backoff(retry: attempt)
                    guard wait <= settings.maxServerWait else { throw rateLimitError(request, wait: wait) }
                    try? await Task.sleep(for: wait)
                    continue
                }
                return response
            case .failure(let failure):
                await observer?.requestFinished(
                    .init(
                        connection: connection.name, method: request.method.rawValue, path: request.path,
                        status: nil, duration: duration, attempt: attempt, failure: failure.error.code))
                if failure.retryable, request.method.isIdempotent, attempt < settings.maxAttempts {
                    try? await Task.sleep(for: retry.backoff(retry: attempt))
                    continue
                }
                throw failure.error
            }
        }
    }

    private func rateLimitError(_ request: SCMRequest, wait: Duration) -> SCMError {
        let seconds = Int((wait / .seconds(1)).rounded(.up))
        return SCMError(
            .rateLimited,
            "\(name) asked Latchkey to wait \(seconds) s before \(request.summary) (\(request.purpose)), longer than the \(Int(settings.maxServerWait / .seconds(1))) s it waits — its rate limit is spent; try again later",
            status: 429)
    }

    private struct TransportFailure: Error {
        var error: SCMError
        var retryable: Bool
    }

    private func perform(_ request: SCMRequest, token: SecretBytes?) async -> Result<SCMResponse, TransportFailure> {
        var url = origin + basePath + request.path
        if !request.query.isEmpty {
            url += "?" + request.query.map { SCMPath.segment($0.name) + "=" + SCMPath.segment($0.value) }.joined(separator: "&")
        }
        var req = HTTPClientRequest(url: url)
        req.method = NIOHTTP1.HTTPMethod(rawValue: request.method.rawValue)
        req.tlsConfiguration = tls
        req.headers.add(name: "Accept", value: connection.kind == .githubEnterprise ? "application/vnd.github+json" : "application/json")
        req.headers.add(name: "User-Agent", value: "Latchkey")
        if let body = request.body {
            req.headers.add(name: "Content-Type", value: "application/json")
            req.body = .bytes(body)
        }
        if let token {
            // RFC 6750 §2.1 bearer tokens; all three servers take a personal / HTTP
            // access token this way. A token that is not header-safe ASCII is refused
            // here rather than sent (it could split the header).
            let header: String? = token.withUnsafeBytes { raw in
                guard !raw.isEmpty, raw.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E }) else { return nil }
                return "Bearer " + String(decoding: raw, as: UTF8.self)
            }
            guard let header else {
                return .failure(
                    TransportFailure(
                        error: SCMError(.configuration, "\(name): the stored token holds characters an HTTP header cannot carry; put it again with `latchkey token put \(connection.name)`"),
                        retryable: false))
            }
            req.headers.add(name: "Authorization", value: header)
        }
        do {
            let response = try await http.execute(req, timeout: TimeAmount(settings.requestTimeout))
            var buffer = try await response.body.collect(upTo: settings.maxResponseBytes)
            var body = buffer.readBytes(length: buffer.readableBytes) ?? []
            if let token { body = Self.redacting(token, in: body) }
            let headers = response.headers.map { (name: $0.name, value: $0.value) }
            return .success(SCMResponse(status: Int(response.status.code), headers: headers, body: body))
        } catch {
            return .failure(classify(error, request))
        }
    }

    /// A body with every copy of the token replaced (a server that echoes what it was
    /// sent must not carry the token into an error message).
    package static func redacting(_ token: SecretBytes, in body: [UInt8]) -> [UInt8] {
        token.withUnsafeBytes { t -> [UInt8] in
            guard t.count > 0, body.count >= t.count else { return body }
            let mark = Array("<redacted>".utf8)
            var out: [UInt8] = []
            out.reserveCapacity(body.count)
            var i = 0
            while i < body.count {
                if i + t.count <= body.count, body[i] == t[0], zip(body[i..<i + t.count], t).allSatisfy({ $0 == $1 }) {
                    out += mark
                    i += t.count
                } else {
                    out.append(body[i])
                    i += 1
                }
            }
            return out
        }
    }

    private func classify(_ error: any Error, _ request: SCMRequest) -> TransportFailure {
        let to = "\(request.summary) (\(request.purpose))"
        let reach = "check that \(host):\(port) is up and reachable from this host (HTTPS_PROXY / NO_PROXY)"
        if let e = error as? HTTPClientError {
            switch e {
            case .deadlineExceeded, .readTimeout, .writeTimeout:
                return .init(error: SCMError(.timeout, "\(name) did not answer \(to) within \(Self.seconds(settings.requestTimeout)) — \(reach)"), retryable: false)
            case .connectTimeout, .tlsHandshakeTimeout, .httpProxyHandshakeTimeout, .getConnectionFromPoolTimeout:
                return .init(error: SCMError(.timeout, "\(name): no connection for \(to) within \(Self.seconds(settings.connectTimeout)) — \(reach)"), retryable: true)
            case .remoteConnectionClosed:
                return .init(error: SCMError(.unreachable, "\(name) closed the connection during \(to) — \(reach)"), retryable: true)
            case .cancelled:
                return .init(error: SCMError(.timeout, "\(to) to \(name) was cancelled"), retryable: false)
            case .proxyAuthenticationRequired, .invalidProxyResponse:
                return .init(error: SCMError(.unreachable, "\(name): the HTTPS proxy refused \(to) (\(e)) — check HTTPS_PROXY"), retryable: false)
            default:
                break
            }
        }
        if error is NIOSSLError || error is BoringSSLError || error is NIOSSLExtraError {
            return .init(
                error: SCMError(
                    .tls,
                    "\(name): TLS to \(host):\(port) failed for \(to): the server's certificate is not trusted or not for this host (\(ServerMessage.cap(String(describing: error)))) — if the server has an internal CA, give its PEM with `latchkey connection set \(connection.name) --ca-file PATH`"),
                retryable: false)
        }
        if error is NIOTooManyBytesError {
            return .init(error: SCMError(.badResponse, "\(name) answered \(to) with more than \(settings.maxResponseBytes) bytes"), retryable: false)
        }
        if let io = error as? IOError {
            let reset = io.errnoCode == ECONNRESET || io.errnoCode == EPIPE || io.errnoCode == ECONNREFUSED
            return .init(error: SCMError(.unreachable, "\(name): \(to) failed (\(io.description)) — \(reach)"), retryable: reset)
        }
        if let ce = error as? ChannelError, case .connectTimeout = ce {
            return .init(error: SCMError(.timeout, "\(name): no connection for \(to) within \(Self.seconds(settings.connectTimeout)) — \(reach)"), retryable: true)
        }
        if error is NIOConnectionError {
            return .init(error: SCMError(.unreachable, "\(name): cannot connect for \(to) — \(reach)"), retryable: true)
        }
        return .init(error: SCMError(.unreachable, "\(name): \(to) failed (\(ServerMessage.cap(String(describing: error)))) — \(reach)"), retryable: false)
    }

    private static func seconds(_ d: Duration) -> String {
        let s = d / .seconds(1)
        return s == s.rounded() ? "\(Int(s)) s" : "\(Int((d / .milliseconds(1)).rounded())) ms"
    }

    /// Requests in flight now (tests of the bound).
    package var inFlight: Int { get async { await state.current } }
}
