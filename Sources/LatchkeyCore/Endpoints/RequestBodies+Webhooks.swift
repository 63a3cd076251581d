package import LatchkeyAPI
import LatchkeySCM
import LatchkeyStore

/// Longest webhook delivery URL in characters.
let maxWebhookURLCharacters = 2048

extension WebhookInstallRequest: RequestBody {
    package static let fields: Set<String> = ["url", "events"]
    package func validate() throws(APIError) {
        try PrintableText.check(url, field: "url", maxCharacters: maxWebhookURLCharacters)
        guard WebhookURL.isValid(url) else {
            throw APIError.badRequest("field 'url' must be an https:// (or http://) URL with a host and no credentials, not '\(Names.printable(String(url.prefix(200))))'")
        }
        if let events {
            guard !events.isEmpty else { throw APIError.badRequest("field 'events' must name at least one event (push, pull_request, tag)") }
            var seen = Set<String>()
            for (i, e) in events.enumerated() {
                guard SCMWebhook.knownEvents.contains(e) else {
                    throw APIError.badRequest("field 'events[\(i)]': '\(Names.printable(String(e.prefix(64))))' is not an event Latchkey knows; use push, pull_request or tag")
                }
                guard seen.insert(e).inserted else { throw APIError.badRequest("field 'events[\(i)]': '\(e)' is listed twice") }
            }
        }
    }
}

extension WebhookRotateRequest: OptionalBody {
    package static let fields: Set<String> = ["graceSeconds"]
    package static var empty: Self { Self() }
}

/// What a webhook's delivery URL may be: `https://` or `http://`, a host, no user info,
/// no fragment, no whitespace (the servers refuse the rest, and an error from them is
/// less clear than this one).
enum WebhookURL {
    static func isValid(_ url: String) -> Bool {
        let lower = url.lowercased()
        guard let scheme = ["https://", "http://"].first(where: { lower.hasPrefix($0) }) else { return false }
        let rest = url.dropFirst(scheme.count)
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        guard !authority.isEmpty, !authority.contains("@"), !url.contains("#"), !authority.hasPrefix(":") else { return false }
        return url.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value < 0x7F }
    }
}
