public import NIOCore
public import NIOHTTP1
import Foundation

/// One complete request as a route sees it.
public struct Request: Sendable {
    public var method: HTTPMethod
    /// The path without the query, percent-decoding not applied.
    public var path: String
    public var query: [String: String]
    public var headers: HTTPHeaders
    public var body: ByteBuffer
    public var peer: PeerCredentials
    public var requestID: String
    /// Values of `{name}` segments of the matched route.
    public var parameters: [String: String] = [:]

    public init(
        method: HTTPMethod, uri: String, headers: HTTPHeaders, body: ByteBuffer, peer: PeerCredentials, requestID: String
    ) {
        self.method = method
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        path = String(parts.first ?? "")
        var q: [String: String] = [:]
        if parts.count == 2 {
            for pair in parts[1].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let key = String(kv[0]).removingPercentEncoding ?? String(kv[0])
                let value = kv.count == 2 ? (String(kv[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "") : ""
                q[key] = value
            }
        }
        query = q
        self.headers = headers
        self.body = body
        self.peer = peer
        self.requestID = requestID
    }

    /// Decodes the JSON body into `T`, refusing unknown shapes with a clear message.
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        guard body.readableBytes > 0 else {
            throw APIError.badRequest("bad_json", "the request needs a JSON body")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(body.readableBytesView))
        } catch let DecodingError.keyNotFound(key, _) {
            throw APIError.badRequest("bad_json", "missing field '\(key.stringValue)'")
        } catch let DecodingError.typeMismatch(_, ctx) {
            throw APIError.badRequest("bad_json", "field '\(ctx.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type")
        } catch let DecodingError.valueNotFound(_, ctx) {
            throw APIError.badRequest("bad_json", "field '\(ctx.codingPath.map(\.stringValue).joined(separator: "."))' is null")
        } catch let DecodingError.dataCorrupted(ctx) {
            let at = ctx.codingPath.map(\.stringValue).joined(separator: ".")
            throw APIError.badRequest("bad_json", at.isEmpty ? "the body is not valid JSON" : "field '\(at)': \(ctx.debugDescription)")
        } catch let e as APIError {
            throw e
        } catch {
            throw APIError.badRequest("bad_json", "the body is not valid JSON")
        }
    }

    /// The bearer token of `Authorization: Bearer …`, if any.
    public var bearerToken: String? {
        guard let value = headers.first(name: "authorization") else { return nil }
        let prefix = "Bearer "
        guard value.hasPrefix(prefix) else { return nil }
        return String(value.dropFirst(prefix.count))
    }
}
