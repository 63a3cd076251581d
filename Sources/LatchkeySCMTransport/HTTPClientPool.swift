internal import AsyncHTTPClient
internal import NIOCore
import LatchkeySCM
import Synchronization

/// The process's async-http-client instances, one per (proxy, connect timeout, pool
/// size). Each lives as long as the process, as AHC's own `HTTPClient.shared` does,
/// so no SCM client has to be shut down and none is left running unshut. The CA a
/// connection trusts travels with each request (`HTTPClientRequest.tlsConfiguration`,
/// part of AHC's connection-pool key), so connections never share a TLS trust.
enum HTTPClientPool {
    struct Key: Hashable {
        var proxy: SCMProxySettings.Proxy?
        var connectTimeoutMilliseconds: Int64
        var poolSize: Int
    }

    private static let clients = Mutex<[Key: HTTPClient]>([:])

    static func client(for key: Key) -> HTTPClient {
        clients.withLock { table in
            if let c = table[key] { return c }
            var config = HTTPClient.Configuration(
                redirectConfiguration: .disallow,  // a redirect could carry the token to another host
                timeout: .init(connect: .milliseconds(key.connectTimeoutMilliseconds), read: nil),
                connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: key.poolSize),
                proxy: key.proxy.map { p in
                    guard let credentials = p.basicCredentials else { return .server(host: p.host, port: p.port) }
                    let parts = credentials.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
                    return .server(
                        host: p.host, port: p.port,
                        authorization: .basic(username: String(parts[0]), password: parts.count > 1 ? String(parts[1]) : ""))
                },
                decompression: .disabled)
            config.httpVersion = .http1Only
            // AHC would retry a failed connection (a refused certificate too) until the
            // request's deadline; the client's own retries decide instead.
            config.connectionPool.retryConnectionEstablishment = false
            let c = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: config)
            table[key] = c
            return c
        }
    }
}

