package import Foundation

/// When to try a request again, and after how long.
package struct RetryPolicy: Sendable {
    package var settings: SCMClientSettings

    package init(settings: SCMClientSettings) { self.settings = settings }

    /// Statuses worth a retry. 429 for every request: the server did not act on it
    /// (RFC 6585 §4). 502/503/504 only for idempotent requests: a gateway may have
    /// passed a POST on before failing. 500 is not retried: it is the server's answer.
    package func shouldRetry(status: Int, method: SCMRequest.Method) -> Bool {
        switch status {
        case 429: true
        case 502, 503, 504: method.isIdempotent
        default: false
        }
    }

    /// Full-jitter exponential backoff for retry `n` (1 for the first retry).
    package func backoff(retry n: Int) -> Duration {
        let factor = Double(1 << min(max(n - 1, 0), 20))
        let ceiling = min(settings.backoffCap, settings.backoffBase * factor)
        let ms = ceiling / .milliseconds(1)
        return .milliseconds(Double.random(in: 0...max(ms, 0)))
    }

    /// How long the server asked to wait: `Retry-After` (seconds or an HTTP date,
    /// RFC 9110 §10.2.3), else a spent rate limit's reset time — GitHub's
    /// `x-ratelimit-remaining: 0` with `x-ratelimit-reset` (epoch seconds,
    /// https://docs.github.com/en/enterprise-server@3.14/rest/using-the-rest-api/rate-limits-for-the-rest-api),
    /// GitLab's `RateLimit-Remaining: 0` with `RateLimit-Reset` (epoch seconds,
    /// https://docs.gitlab.com/ee/administration/settings/user_and_ip_rate_limits.html#response-headers).
    package static func serverWait(_ response: SCMResponse, now: Date = Date()) -> Duration? {
        if let ra = response.header("retry-after")?.trimmingCharacters(in: .whitespaces) {
            if let seconds = Int(ra), seconds >= 0 { return .seconds(seconds) }
            if let date = httpDate(ra) { return .seconds(max(0, date.timeIntervalSince(now).rounded(.up))) }
        }
        return rateLimitReset(response, now: now)
    }

    /// The wait until a spent rate limit resets, if the answer says it is spent.
    package static func rateLimitReset(_ response: SCMResponse, now: Date = Date()) -> Duration? {
        for (remaining, reset) in [("x-ratelimit-remaining", "x-ratelimit-reset"), ("ratelimit-remaining", "ratelimit-reset")] {
            guard let r = response.header(remaining).flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) }), r == 0,
                let epoch = response.header(reset).flatMap({ Double($0.trimmingCharacters(in: .whitespaces)) })
            else { continue }
            return .seconds(max(0, (epoch - now.timeIntervalSince1970).rounded(.up)))
        }
        return nil
    }

    package static func httpDate(_ s: String) -> Date? {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return f.date(from: s)
    }
}
