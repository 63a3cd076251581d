package import LatchkeyCrypto

/// Checks on a personal access token or OAuth client secret before it is stored.
/// Messages describe the token's form, never its bytes.
package enum AccessToken {
    package static let maxBytes = 4096
    package static let expiryWarningDays = 7

    /// Refuses an empty token, one over 4 KiB, or one with whitespace, control or
    /// non-ASCII bytes inside. Returns warnings for a form the server does not usually
    /// issue (a warning, not a refusal: servers change their formats).
    package static func check(_ token: SecretBytes, for server: ConnectionKind, kind: SecretKind) throws(StoreError) -> [String] {
        guard token.count > 0 else { throw .invalid("the token is empty; pipe it on standard input") }
        guard token.count <= maxBytes else { throw .invalid("the token is \(token.count) bytes; at most \(maxBytes) are accepted") }
        let (printable, prefix, alphabet) = token.withUnsafeBytes { b -> (Bool, String, Bool) in
            let printable = b.allSatisfy { $0 > 0x20 && $0 < 0x7f }
            // Only the well-known public prefix is kept, to compare against the server's forms.
            let known = ["github_pat_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "glpat-", "gloas-", "glptt-"]
            let prefix = known.first { p in b.count >= p.utf8.count && zip(b, p.utf8).allSatisfy { $0 == $1 } } ?? ""
            let base64ish = b.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 43 || $0 == 47 }
            return (printable, prefix, base64ish)
        }
        guard printable else {
            throw .invalid("the token contains whitespace, control or non-ASCII characters; paste it exactly as the server showed it")
        }
        guard kind == .token else { return [] }
        switch server {
        case .githubEnterprise where prefix != "ghp_" && prefix != "github_pat_":
            return ["GitHub Enterprise personal access tokens start with ghp_ (classic) or github_pat_ (fine-grained); this one does not"]
        case .gitlab where prefix != "glpat-":
            return ["GitLab personal access tokens start with glpat-; this one does not"]
        case .bitbucketServer where token.count != 44 || !alphabet:
            return ["Bitbucket Server HTTP access tokens are 44 characters of A-Z a-z 0-9 + /; this one is \(token.count) characters"]
        default:
            return []
        }
    }

    /// `YYYY-MM-DD`, the first UTC day on which the token is no longer released.
    package static func parseExpiry(_ text: String) throws(StoreError) -> Timestamp {
        guard text.utf8.count == 10, let t = Timestamp(parsing: text) else {
            throw .invalid("--expires '\(Names.printable(text))' is not a date of the form YYYY-MM-DD")
        }
        return t
    }

    /// Whole days from `now` until `expiry` (negative once passed).
    package static func daysLeft(until expiry: Timestamp, now: Timestamp) -> Int {
        let day: Int64 = 86_400_000_000
        let diff = expiry.microseconds - now.microseconds
        return Int(diff >= 0 ? diff / day : (diff - day + 1) / day)
    }
}
