/// Size and time limits of the socket API. A request over a size limit is answered
/// 413 / 431 and the connection closed; a connection idle or too slow is closed.
package struct ServerLimits: Sendable {
    /// Largest request body accepted.
    package var maxBodyBytes = 64 * 1024
    /// Largest total of header names and values accepted.
    package var maxHeaderBytes = 16 * 1024
    /// Most headers in one request.
    package var maxHeaderCount = 64
    /// A connection with no request in flight is closed after this.
    package var idleTimeout: Duration = .seconds(30)
    /// A request must arrive whole within this from its first byte (slow clients).
    package var requestTimeout: Duration = .seconds(10)
    /// Most connections open at once; further ones are closed at accept.
    package var maxConnections = 4096

    package init() {}
}
