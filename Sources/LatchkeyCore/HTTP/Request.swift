package import NIOCore
import Foundation
import LatchkeyStore

/// An HTTP method as the router sees it: any token, with names for the ones routes use.
package struct RequestMethod: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    package var rawValue: String
    package init(rawValue: String) { self.rawValue = rawValue }

    package static let GET = RequestMethod(rawValue: "GET")
    package static let POST = RequestMethod(rawValue: "POST")
    package static let PUT = RequestMethod(rawValue: "PUT")
    package static let DELETE = RequestMethod(rawValue: "DELETE")
    package static let PATCH = RequestMethod(rawValue: "PATCH")

    package var description: String { rawValue }
}

/// One complete request as the core sees it, whatever transport carried it.
package struct Request: Sendable {
    package var method: RequestMethod
    /// The path without the query, percent-decoding not applied.
    package var path: String
    package var query: [String: String]
    /// Header fields in arrival order; names as sent.
    package var headers: [(name: String, value: String)]
    package var body: ByteBuffer
    package var peer: PeerCredentials
    /// The daemon's own id for this request (in its answer and its audit row).
    package var requestID: String
    /// The client's `X-Request-Id`, when it sent a plain one (a label, never the id).
    package var clientRequestID: String?
    /// Values of `{name}` segments of the matched route.
    package var parameters: [String: String] = [:]

    package init(
        method: RequestMethod, uri: String, headers: [(name: String, value: String)], body: ByteBuffer, peer: PeerCredentials,
        requestID: String
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
        clientRequestID = RequestIDGenerator.clientLabel(headers.first { Self.sameName($0.name, "x-request-id") }?.value)
    }

    /// The first value of header `name` (case-insensitive), if any.
    package func header(_ name: String) -> String? {
        headers.first { Self.sameName($0.name, name) }?.value
    }

    /// Whether two header names are the same token, ASCII letters compared without case
    /// (RFC 9110 §5.1); byte by byte, without Foundation's locale-aware comparison.
    static func sameName(_ a: String, _ b: String) -> Bool {
        a.utf8.elementsEqual(b.utf8) { x, y in
            // Only ASCII letters differ by case, in bit 0x20 alone.
            x == y || (x | 0x20 == y | 0x20 && (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(x | 0x20))
        }
    }

    /// Decodes the JSON body into `T`, refusing unknown shapes with a clear message that
    /// names the field.
    package func decode<T: Decodable>(_ type: T.Type) throws(APIError) -> T {
        guard body.readableBytes > 0 else {
            throw APIError.badRequest("the request needs a JSON body")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(body.readableBytesView))
        } catch let DecodingError.keyNotFound(key, ctx) {
            throw APIError.badRequest("missing field '\(Self.field(ctx.codingPath + [key]))'")
        } catch let DecodingError.typeMismatch(_, ctx) {
            throw APIError.badRequest("field '\(Self.field(ctx.codingPath))' has the wrong type")
        } catch let DecodingError.valueNotFound(_, ctx) {
            throw APIError.badRequest("field '\(Self.field(ctx.codingPath))' is null")
        } catch let DecodingError.dataCorrupted(ctx) {
            let at = Self.field(ctx.codingPath)
            throw APIError.badRequest(at.isEmpty ? "the body is not valid JSON" : "field '\(at)': \(ctx.debugDescription)")
        } catch let e as APIError {
            throw e
        } catch {
            throw APIError.badRequest("the body is not valid JSON")
        }
    }

    /// Refuses a body that is not a JSON object, names a field not in `fields`, or sets
    /// any field to `null` (an absent field takes its default; a null one is refused, so
    /// `{"version": null}` can never mean "every version").
    package func checkFields(_ fields: Set<String>) throws(APIError) {
        guard body.readableBytes > 0 else { throw APIError.badRequest("the request needs a JSON body") }
        // One pass over the bytes answers for plain bodies (nearly all); anything it is not
        // sure of takes the full parser below, which gives the same answers.
        if let keys = body.withUnsafeReadableBytes({ JSONTopLevelKeys.scan($0) }) {
            for (key, isNull) in keys.sorted(by: { $0.key < $1.key }) {
                guard fields.contains(key) else { throw Self.unknownField(key, fields) }
                if isNull { throw Self.nullField(key) }
            }
            return
        }
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: Data(body.readableBytesView), options: [.fragmentsAllowed])
        } catch {
            throw APIError.badRequest("the body is not valid JSON")
        }
        guard let object = parsed as? [String: Any] else { throw APIError.badRequest("the body must be a JSON object") }
        for key in object.keys.sorted() {
            guard fields.contains(key) else { throw Self.unknownField(key, fields) }
            if object[key] is NSNull { throw Self.nullField(key) }
        }
    }

    private static func unknownField(_ key: String, _ fields: Set<String>) -> APIError {
        APIError.badRequest("unknown field '\(Names.printable(String(key.prefix(64))))'; the fields are \(fields.sorted().joined(separator: ", "))")
    }

    private static func nullField(_ key: String) -> APIError {
        APIError.badRequest("field '\(key)' is null; leave it out for its default")
    }

    private static func field(_ path: [any CodingKey]) -> String {
        path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }

    /// The bearer token of `Authorization: Bearer …`, if any.
    package var bearerToken: String? {
        guard let value = header("authorization") else { return nil }
        let prefix = "Bearer "
        guard value.hasPrefix(prefix) else { return nil }
        return String(value.dropFirst(prefix.count))
    }
}

extension Request {
    /// A yes/no query parameter: absent is no; a value outside the spellings the API
    /// documents for it is refused (400 `invalid`, naming the parameter), not read as no.
    package func flag(_ name: String, yes: Set<String>, no: Set<String>) throws -> Bool {
        guard let value = query[name] else { return false }
        if yes.contains(value) { return true }
        if no.contains(value) { return false }
        let allowed = (yes.union(no)).sorted().joined(separator: ", ")
        throw APIError.invalid("\(name) must be one of \(allowed), not '\(Names.printable(String(value.prefix(40))))'")
    }
}
