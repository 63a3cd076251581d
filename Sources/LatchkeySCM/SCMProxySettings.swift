import Foundation

/// An HTTPS proxy from `HTTPS_PROXY` (or `https_proxy`) and the hosts that bypass it
/// from `NO_PROXY` (or `no_proxy`), with the usual conventions of curl and Go's
/// net/http: a comma-separated list of host names or domain suffixes (`.corp.example`
/// and `corp.example` both match `git.corp.example`), optional `:PORT`, and `*` for all.
package struct SCMProxySettings: Sendable, Equatable {
    package struct Proxy: Sendable, Hashable {
        package var host: String
        package var port: Int
        /// `user:password` from the proxy URL, if any (sent only to the proxy).
        package var basicCredentials: String?

        package init(host: String, port: Int, basicCredentials: String? = nil) {
            self.host = host
            self.port = port
            self.basicCredentials = basicCredentials
        }
    }

    package var proxy: Proxy?
    package var noProxy: [String]

    package init(proxy: Proxy?, noProxy: [String]) {
        self.proxy = proxy
        self.noProxy = noProxy
    }

    package static let none = SCMProxySettings(proxy: nil, noProxy: [])

    package static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) -> SCMProxySettings {
        let raw = env["HTTPS_PROXY"] ?? env["https_proxy"]
        let bypass = env["NO_PROXY"] ?? env["no_proxy"] ?? ""
        return SCMProxySettings(proxy: raw.flatMap(parseProxy), noProxy: parseNoProxy(bypass))
    }

    /// `http://[user:pass@]host[:port]` or `host:port`; the port defaults to 80 (http)
    /// or 443 (https), as curl does. Anything else is ignored.
    static func parseProxy(_ text: String) -> Proxy? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { return nil }
        let withScheme = trimmed.contains("://") ? trimmed : "http://" + trimmed
        guard let u = URLComponents(string: withScheme), let host = u.host, !host.isEmpty,
            u.scheme == "http" || u.scheme == "https"
        else { return nil }
        let port = u.port ?? (u.scheme == "https" ? 443 : 80)
        var credentials: String?
        if let user = u.user { credentials = user + ":" + (u.password ?? "") }
        return Proxy(host: host, port: port, basicCredentials: credentials)
    }

    static func parseNoProxy(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty }
    }

    /// The proxy to use for `host:port`, or nil to connect directly.
    package func proxy(forHost host: String, port: Int) -> Proxy? {
        guard let proxy else { return nil }
        let h = host.lowercased()
        for entry in noProxy {
            if entry == "*" { return nil }
            var name = entry
            if let colon = entry.lastIndex(of: ":"), !entry.hasPrefix("["), let p = Int(entry[entry.index(after: colon)...]) {
                guard p == port else { continue }
                name = String(entry[..<colon])
            }
            if name.hasPrefix(".") { name.removeFirst() }
            if h == name || h.hasSuffix("." + name) { return nil }
        }
        return proxy
    }
}
