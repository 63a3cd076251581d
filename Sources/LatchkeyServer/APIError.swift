import LatchkeyAPI

/// A refusal: the client's fault or a state the client must know about. Its code is
/// stable (API answers and audit rows use it); its message says what was wrong and
/// what to do, and never contains a secret.
public struct APIError: Error, Sendable, CustomStringConvertible {
    public var status: Int
    public var code: String
    public var message: String

    public init(status: Int, code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public var description: String { "\(status) \(code): \(message)" }

    public static func badRequest(_ code: String = "bad_request", _ message: String) -> APIError {
        APIError(status: 400, code: code, message)
    }
    public static func unauthorized(_ code: String, _ message: String) -> APIError { APIError(status: 401, code: code, message) }
    public static func forbidden(_ code: String = "forbidden", _ message: String) -> APIError {
        APIError(status: 403, code: code, message)
    }
    public static func notFound(_ message: String) -> APIError { APIError(status: 404, code: "not_found", message) }
    public static func conflict(_ code: String = "conflict", _ message: String) -> APIError {
        APIError(status: 409, code: code, message)
    }
    public static func unavailable(_ code: String, _ message: String) -> APIError { APIError(status: 503, code: code, message) }
    static let internalFault = APIError(
        status: 500, code: "internal", "the daemon hit an internal fault; it is in the daemon's log")

    var body: ErrorBody { ErrorBody(code: code, message: message) }
}
