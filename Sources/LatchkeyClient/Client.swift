public import LatchkeyAPI
import Foundation

/// Typed calls to the daemon. Error answers become `ClientError.api`.
public final class LatchkeyClient {
    public let socketPath: String
    private let connection: UnixHTTPConnection

    public init(socketPath: String) throws {
        self.socketPath = socketPath
        connection = try UnixHTTPConnection(path: socketPath)
    }

    /// Raw call: returns the body bytes of a 2xx answer, throws `ClientError.api` otherwise.
    public func call(_ method: String, _ path: String, body: [UInt8] = [], bearer: String? = nil) throws -> [UInt8] {
        var headers: [(String, String)] = []
        if let bearer { headers.append(("Authorization", "Bearer \(bearer)")) }
        let answer = try connection.send(method: method, path: path, headers: headers, body: body)
        guard (200..<300).contains(answer.status) else {
            if let e = try? JSONDecoder().decode(ErrorBody.self, from: Data(answer.body)) {
                throw ClientError.api(status: answer.status, code: e.error.code, message: e.error.message)
            }
            throw ClientError.protocolError("HTTP \(answer.status) without an error body")
        }
        return answer.body
    }

    /// A request with no body whose 2xx answer is handed to `sink` as it arrives, a piece
    /// at a time (an audit export, a backup: answers of any size).
    public func stream(_ path: String, method: String = "GET", sink: ([UInt8]) throws -> Void) throws {
        let answer = try connection.stream(method: method, path: path, sink: sink)
        guard (200..<300).contains(answer.status) else {
            if let e = try? JSONDecoder().decode(ErrorBody.self, from: Data(answer.body)) {
                throw ClientError.api(status: answer.status, code: e.error.code, message: e.error.message)
            }
            throw ClientError.protocolError("HTTP \(answer.status) without an error body")
        }
    }

    /// A JSON call: encodes `body` (if any) and decodes the answer as `T`.
    public func call<T: Decodable>(_ method: String, _ path: String, body: (some Encodable)? = nil as Empty?, bearer: String? = nil, as: T.Type = T.self) throws -> T {
        var bytes: [UInt8] = []
        if let body { bytes = Array(try JSONEncoder().encode(body)) }
        defer { wipe(&bytes) }
        let answer = try call(method, path, body: bytes, bearer: bearer)
        do {
            return try JSONDecoder().decode(T.self, from: Data(answer))
        } catch {
            throw ClientError.protocolError("answer to \(method) \(path) did not decode: \(error)")
        }
    }

    /// A raw call whose answer may be up to `limit` bytes (a backup), not the usual 16 MiB.
    public func download(_ method: String, _ path: String, limit: Int) throws -> [UInt8] {
        connection.responseLimit = limit
        defer { connection.responseLimit = UnixHTTPConnection.maxResponseBytes }
        return try call(method, path)
    }

    public func health() throws -> HealthResponse { try call("GET", "\(apiPrefix)/health") }
}

/// An empty JSON body.
public struct Empty: Codable, Sendable {
    public init() {}
}
