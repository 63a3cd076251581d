public import NIOCore
public import NIOHTTP1
import Foundation
import LatchkeyAPI

/// An answer: status, content type and body bytes — or, for an answer too large to hold
/// (an audit export), a producer that writes the body chunk by chunk.
public struct Response: Sendable {
    public var status: HTTPResponseStatus
    public var contentType: String
    public var body: ByteBuffer
    /// Writes the body in chunks (sent with chunked transfer encoding); each `write` returns
    /// once its chunk was handed to the socket, so memory stays at about one chunk.
    public var stream: BodyStream?

    public typealias BodyStream = @Sendable (_ write: @escaping @Sendable (ByteBuffer) async throws -> Void) async throws -> Void

    public init(status: HTTPResponseStatus = .ok, contentType: String = "application/json", body: ByteBuffer) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }

    public init(status: HTTPResponseStatus = .ok, contentType: String, stream: @escaping BodyStream) {
        self.status = status
        self.contentType = contentType
        self.body = ByteBuffer()
        self.stream = stream
    }

    nonisolated(unsafe) private static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    /// A JSON answer. Encoding our own Codable types cannot fail.
    public static func json<T: Encodable>(_ value: T, status: HTTPResponseStatus = .ok) -> Response {
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return Response(status: status, body: ByteBuffer(bytes: data))
    }

    public static func error(_ e: APIError) -> Response {
        json(e.body, status: HTTPResponseStatus(statusCode: e.status))
    }
}
