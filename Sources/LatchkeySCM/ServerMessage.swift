/// The server's own words from an error body, cut to 200 characters.
///
/// The three servers' error bodies, as their documentation shows them:
/// - GitHub Enterprise: `{"message":"Validation Failed","errors":[{"resource":"PublicKey",
///   "code":"custom","field":"key","message":"key is already in use"}],"documentation_url":…}`
///   (https://docs.github.com/en/enterprise-server@3.14/rest/using-the-rest-api/troubleshooting-the-rest-api).
/// - GitLab: `{"message":"401 Unauthorized"}`, `{"message":{"deploy_key.fingerprint":["has already
///   been taken"]}}`, or OAuth's `{"error":"insufficient_scope","error_description":…}`
///   (https://docs.gitlab.com/ee/api/rest/troubleshooting.html).
/// - Bitbucket Server / DC: `{"errors":[{"context":null,"message":…,"exceptionName":…}]}`
///   (https://docs.atlassian.com/bitbucket-server/rest/5.6.2/bitbucket-rest.html, "Errors").
package enum ServerMessage {
    package static let maxCharacters = 200

    package static func summary(of response: SCMResponse) -> String {
        var parts: [String] = []
        if let json = response.json() {
            collect(json, into: &parts)
        } else if let text = String(validating: response.body.prefix(1024), as: UTF8.self) {
            parts.append(text)
        }
        let joined = parts.filter { !$0.isEmpty }.joined(separator: ": ")
        return cap(joined.isEmpty ? "no message" : joined)
    }

    private static func collect(_ json: JSONValue, into parts: inout [String]) {
        switch json["message"] {
        case .string(let s): parts.append(s)
        case .object(let fields):
            for (k, v) in fields.sorted(by: { $0.key < $1.key }) {
                let texts = v.array?.compactMap(\.string) ?? v.string.map { [$0] } ?? []
                parts.append("\(k) \(texts.joined(separator: ", "))")
            }
        case .array(let a): parts.append(a.compactMap(\.string).joined(separator: ", "))
        default: break
        }
        if let description = json["error_description"]?.string {
            parts.append(description)
        } else if let e = json["error"]?.string {
            parts.append(e)
        }
        for e in json["errors"]?.array ?? [] {
            if let m = e["message"]?.string { parts.append(m) } else if let s = e.string { parts.append(s) }
        }
    }

    /// Printable, single-line, at most `maxCharacters` characters.
    package static func cap(_ s: String) -> String {
        var out = ""
        var count = 0
        for ch in s {
            guard count < maxCharacters else { out.append("…"); break }
            let printable = ch.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value != 0x7F }
            out.append(printable ? ch : " ")
            count += 1
        }
        return out
    }
}
