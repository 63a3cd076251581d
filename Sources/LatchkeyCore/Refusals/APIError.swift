package import LatchkeyAPI

/// A refusal: the client's fault or a state the client must know about. Its code comes
/// from `RefusalCode` (status and audit outcome with it); its message says what was
/// wrong and what to do, and never contains a secret.
package struct APIError: Error, Sendable, CustomStringConvertible {
    package var code: RefusalCode
    package var message: String

    package init(_ code: RefusalCode, _ message: String? = nil) {
        self.code = code
        self.message = message ?? code.defaultMessage
    }

    package var status: Int { code.status }
    package var description: String { "\(status) \(code.rawValue): \(message)" }

    package static func badRequest(_ message: String) -> APIError { APIError(.badRequest, message) }
    package static func invalid(_ message: String) -> APIError { APIError(.invalid, message) }
    package static func notFound(_ message: String) -> APIError { APIError(.notFound, message) }
    package static let internalFault = APIError(.internalFault)

    package var body: ErrorBody { ErrorBody(code: code.rawValue, message: message) }
}
