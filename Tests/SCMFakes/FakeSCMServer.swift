package import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization
import LatchkeyTestSupport

/// A fake SCM server over real TLS on 127.0.0.1 (see README.md: it imitates the real
/// server's documented REST API; it is not the real server).
package final class FakeSCMServer: Sendable {
    package let kind: FakeKind
    package let port: Int
    private let channel: any Channel
    let state = Mutex(FakeState())

    /// `https://127.0.0.1:PORT/api/v3` (GitHub Enterprise), `/api/v4` (GitLab) or
    /// `/rest/api/1.0` (Bitbucket Server).
    package var apiURL: String { "https://127.0.0.1:\(port)\(kind.apiRoot)" }
    /// `https://127.0.0.1:PORT`, the web URL.
    package var webURL: String { "https://127.0.0.1:\(port)" }

    private init(kind: FakeKind, port: Int, channel: any Channel) {
        self.kind = kind
        self.port = port
        self.channel = channel
    }

    /// Starts a fake serving `certificate` on a free loopback port.
    package static func start(kind: FakeKind, certificate: TestPKI.ServerCertificate) async throws -> FakeSCMServer {
        let cert = try NIOSSLCertificate.fromPEMFile(certificate.certificate)
        let key = try NIOSSLPrivateKey(file: certificate.key, format: .pem)
        let tls = TLSConfiguration.makeServerConfiguration(certificateChain: cert.map { .certificate($0) }, privateKey: .privateKey(key))
        let context = try NIOSSLContext(configuration: tls)
        let box = ServerBox()
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(FakeHTTPHandler(box: box))
                }
            }
        let channel = try await bootstrap.bind(host: "127.0.0.1", port: 0).get()
        guard let port = channel.localAddress?.port else { throw TestPKI.PKIError.openssl("no port") }
        let server = FakeSCMServer(kind: kind, port: port, channel: channel)
        box.server.withLock { $0 = server }
        return server
    }

    package func stop() async {
        try? await channel.close()
    }

    // MARK: set-up

    /// A user with a token. `scopes` nil: a GitHub fine-grained token (no `X-OAuth-Scopes`).
    package func addUser(_ name: String, token: String, scopes: [String]? = nil, expiresAt: String? = nil, active: Bool = true) {
        state.withLock { s in
            let id = s.newID()
            s.users.append(FakeUser(name: name, id: id, token: token, scopes: scopes, expiresAt: expiresAt, active: active))
        }
    }

    /// A repository (`owner/repo`, `group/sub/repo` or `KEY/slug`) and who may do what on it.
    package func addRepository(_ path: String, admins: [String], readers: [String] = []) {
        state.withLock { s in
            let id = s.newID()
            s.repositories.append(FakeRepository(path: path, id: id, admins: Set(admins), readers: Set(readers)))
        }
    }

    /// Puts a key on a repository as if someone had added it by hand.
    package func addDeployKey(_ repository: String, title: String, key: String) {
        state.withLock { s in
            let id = s.newID()
            s.keys[repository, default: []].append(FakeDeployKey(id: id, title: title, key: key, write: false))
        }
    }

    /// Deletes a key as if someone had removed it on the server by hand.
    package func removeDeployKeyByHand(_ repository: String, id: Int64) {
        state.withLock { $0.keys[repository]?.removeAll { $0.id == id } }
    }

    /// The next `times` requests matching `method` and `pathContains` fail with `failure`.
    package func failNext(_ failure: FakeFailure, times: Int = 1, method: String? = nil, pathContains: String? = nil) {
        state.withLock { $0.rules.append(FailureRule(failure: failure, remaining: times, method: method, pathContains: pathContains)) }
    }

    package func clearFailures() { state.withLock { $0.rules.removeAll() } }

    // MARK: inspection

    package var requests: [RecordedRequest] { state.withLock { $0.requests } }
    package func deployKeys(_ repository: String) -> [FakeDeployKey] { state.withLock { $0.keys[repository] ?? [] } }
    package func webhooks(_ repository: String) -> [FakeWebhook] { state.withLock { $0.hooks[repository] ?? [] } }

    /// The signature header the server would send with a delivery of `body` from the
    /// repository's first hook, computed with the `openssl` tool from the secret the
    /// fake was given.
    package func signedDelivery(repository: String, body: [UInt8]) -> (name: String, value: String)? {
        guard let hook = webhooks(repository).first else { return nil }
        switch kind {
        case .gitlab:
            return ("X-Gitlab-Token", hook.secret)
        case .githubEnterprise, .bitbucketServer:
            let hexKey = hook.secret.utf8.map { String(format: "%02x", $0) }.joined()
            let r = runCaptured(["openssl", "mac", "-digest", "SHA256", "-macopt", "hexkey:\(hexKey)", "HMAC"], stdin: Data(body))
            guard r.status == 0 else { return nil }
            let mac = String(decoding: r.out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
            return (kind == .githubEnterprise ? "X-Hub-Signature-256" : "X-Hub-Signature", "sha256=" + mac)
        }
    }

    // MARK: dispatch

    func handle(method: String, uri: String, headers: [(name: String, value: String)], body: [UInt8]) -> FakeAction {
        let parts = uri.split(separator: "?", maxSplits: 1)
        let path = String(parts.first ?? "")
        var query: [String: String] = [:]
        if parts.count > 1 {
            for item in parts[1].split(separator: "&") {
                let kv = item.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? String($0) }
                query[kv[0]] = kv.count > 1 ? kv[1] : ""
            }
        }
        let request = FakeRequest(method: method, path: path, query: query, headers: headers, body: body)
        return state.withLock { s -> FakeAction in
            s.requests.append(RecordedRequest(method: method, uri: uri, headers: headers, body: body))
            if let i = s.rules.firstIndex(where: { r in
                r.remaining > 0 && (r.method == nil || r.method == method) && (r.pathContains.map { path.contains($0) } ?? true)
            }) {
                s.rules[i].remaining -= 1
                let failure = s.rules[i].failure
                if s.rules[i].remaining == 0 { s.rules.remove(at: i) }
                if case .slow(let ms) = failure { return .later(route(request, &s), milliseconds: ms) }
                return injected(failure)
            }
            return .answer(route(request, &s))
        }
    }

    private func route(_ request: FakeRequest, _ s: inout FakeState) -> FakeResponse {
        // GitHub App JWTs and minted tokens first: they are not users' tokens.
        if let minted = FakeMintedTokens.route(kind, request, &s) { return minted }
        return switch kind {
        case .githubEnterprise: FakeGitHubEnterprise.route(request, &s)
        case .gitlab: FakeGitLab.route(request, &s)
        case .bitbucketServer: FakeBitbucketServer.route(request, &s)
        }
    }

    /// The most requests the fake was ever answering at once.
    package var maxConcurrentRequests: Int { state.withLock { $0.maxInFlight } }

    func began() {
        state.withLock { s in
            s.inFlight += 1
            s.maxInFlight = max(s.maxInFlight, s.inFlight)
        }
    }

    func ended() { state.withLock { $0.inFlight -= 1 } }

    private func injected(_ failure: FakeFailure) -> FakeAction {
        switch failure {
        case .neverAnswer: return .neverAnswer
        case .resetConnection: return .reset
        case .slow: return .neverAnswer  // handled by the caller
        case .unauthorized: return .answer(FakeErrors.unauthorized(kind))
        case .forbiddenScope: return .answer(FakeErrors.forbiddenScope(kind))
        case .keyInUse: return .answer(FakeErrors.keyInUse(kind))
        case .serverError: return .answer(FakeErrors.status(kind, 500))
        case .status(let code): return .answer(FakeErrors.status(kind, code))
        case .rateLimited(let seconds):
            var r = FakeErrors.status(kind, 429)
            r.headers.append(("Retry-After", String(seconds)))
            return .answer(r)
        }
    }
}

/// Lets the channel handlers reach the server once it exists.
final class ServerBox: Sendable {
    let server = Mutex<FakeSCMServer?>(nil)
}

/// Reads a whole request, asks the server, writes its answer (or nothing, or closes).
final class FakeHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let box: ServerBox
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []

    init(box: ServerBox) { self.box = box }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body = []
        case .body(var b):
            body += b.readBytes(length: b.readableBytes) ?? []
        case .end:
            guard let head, let server = box.server.withLock({ $0 }) else { return }
            self.head = nil
            let headers = head.headers.map { (name: $0.name, value: $0.value) }
            server.began()
            switch server.handle(method: head.method.rawValue, uri: head.uri, headers: headers, body: body) {
            case .neverAnswer:
                return
            case .reset:
                server.ended()
                context.close(promise: nil)
            case .answer(let r):
                server.ended()
                write(r, version: head.version, context: context)
            case .later(let r, let ms):
                let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                context.eventLoop.scheduleTask(in: .milliseconds(Int64(ms))) {
                    server.ended()
                    let (handler, context) = loopBound.value
                    handler.write(r, version: head.version, context: context)
                }
            }
        }
    }

    private func write(_ r: FakeResponse, version: HTTPVersion, context: ChannelHandlerContext) {
        var h = HTTPHeaders(r.headers)
        h.add(name: "Content-Length", value: String(r.body.count))
        h.add(name: "Date", value: Self.httpDate())
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: .init(statusCode: r.status), headers: h))), promise: nil)
        if !r.body.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: r.body)))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    static func httpDate() -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return f.string(from: Date())
    }
}
