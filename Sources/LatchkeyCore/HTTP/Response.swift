package import NIOCore
import Foundation
package import LatchkeyAPI

/// An answer: status, content type, extra headers and body bytes — or, for an answer too
/// large to hold (an audit export), a producer that writes the body chunk by chunk.
package struct Response: Sendable {
    package var status: Int
    package var contentType: String
    /// Headers beyond content type and length (`Allow` on a 405).
    package var headers: [(name: String, value: String)] = []
    package var body: ByteBuffer
    /// The body holds a released secret: the adapter wipes its bytes once written.
    package var holdsSecret = false
    /// Writes the body in chunks (the adapter sends them with chunked transfer encoding);
    /// each `write` returns once its chunk was handed to the socket, so memory stays at
    /// about one chunk however long the answer.
    package var stream: BodyStream?

    package typealias BodyStream = @Sendable (_ write: @escaping @Sendable (ByteBuffer) async throws -> Void) async throws -> Void

    package init(status: Int = 200, contentType: String = "application/json", body: ByteBuffer, holdsSecret: Bool = false) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.holdsSecret = holdsSecret
    }

    package init(status: Int = 200, contentType: String, stream: @escaping BodyStream) {
        self.status = status
        self.contentType = contentType
        self.body = ByteBuffer()
        self.stream = stream
    }

    private static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    /// A JSON answer. Encoding our own Codable types cannot fail.
    package static func json<T: Encodable>(_ value: T, status: Int = 200) -> Response {
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return Response(status: status, body: ByteBuffer(bytes: data))
    }

    package static func error(_ e: APIError) -> Response {
        json(e.body, status: e.status)
    }
}
