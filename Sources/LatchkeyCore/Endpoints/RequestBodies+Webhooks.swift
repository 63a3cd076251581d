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
            throw APIError.badRequest(
                "field 'url' must be an https:// (or http://) URL: a host, an optional port, a path of printable ASCII, no credentials or fragment; not '\(Names.printable(String(url.prefix(200))))'")
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

/// What a webhook's delivery URL may be, as docs/openapi.yaml states it (a test holds the
/// two equal): `https://` or `http://`, a host name or IPv4 address, an optional port, then
/// a path and query of printable ASCII; no user info, no fragment, no whitespace (the
/// servers refuse the rest, and an error from them is less clear than this one).
package enum WebhookURL {
    package static let pattern = #"^[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(:[0-9]{1,5})?([/?][!-"$-~]*)?$"#

    static func isValid(_ url: String) -> Bool { ConnectionURLPattern.matches(url, pattern) }
}
