/// One request to an SCM server's REST API, before the token is added.
package struct SCMRequest: Sendable {
    package enum Method: String, Sendable {
        case GET, POST, PUT, PATCH, DELETE
        /// RFC 9110 §9.2.2: GET, PUT and DELETE may be repeated with the same effect;
        /// POST and PATCH may not (a retried POST could install a key twice).
        package var isIdempotent: Bool {
            switch self {
            case .GET, .PUT, .DELETE: true
            case .POST, .PATCH: false
            }
        }
    }

    package var method: Method
    /// Relative to the API root, starting with `/`, each segment already percent-encoded
    /// (`SCMPath.segment`). It is what audit rows and errors show.
    package var path: String
    /// Query items, encoded by the client.
    package var query: [(name: String, value: String)]
    /// A JSON body, if any. It may hold a webhook secret: it is never logged or recorded.
    package var body: [UInt8]?
    /// What the request is for, in the user's words ("install deploy key"), for errors.
    package var purpose: String

    package init(_ method: Method, _ path: String, query: [(name: String, value: String)] = [], body: [UInt8]? = nil, purpose: String) {
        self.method = method
        self.path = path
        self.query = query
        self.body = body
        self.purpose = purpose
    }

    /// `METHOD /path` as errors and audit rows show it.
    package var summary: String { "\(method.rawValue) \(path)" }
}

/// Percent-encoding of path segments (RFC 3986 unreserved characters stay as they are),
/// so that GitLab's `group/sub/repo` becomes one `:id` segment (`group%2Fsub%2Frepo`).
package enum SCMPath {
    package static func segment(_ s: String) -> String {
        var out = ""
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                out.append("%")
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(byte >> 4)]))
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(byte & 0xF)]))
            }
        }
        return out
    }

    /// `owner/repo` → `/owner/repo` with each part encoded.
    package static func segments(_ s: String) -> String {
        s.split(separator: "/", omittingEmptySubsequences: false).map { "/" + segment(String($0)) }.joined()
    }
}
