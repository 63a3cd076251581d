import LatchkeySCM
import Testing

/// The expiry a server reports, as the day Latchkey stores (`--expires`' form): what
/// replaces a mistyped `--expires` at `token put`. Hostile or unknown forms give no day
/// (then `--expires` stands), never a wrong one.
@Suite struct TokenExpiryTests {
    @Test(arguments: [
        ("2027-06-30", "2027-06-30"),  // GitLab's expires_at: the token expires at the start of that day
        ("2027-06-30T00:00:00Z", "2027-06-30"),  // GitHub's header, as the adapter turns it into RFC 3339
        ("2027-06-30T14:00:00Z", "2027-06-30"),  // floored: never released on the day it dies
        ("2027-06-30 14:00:00 UTC", "2027-06-30"),
    ])
    func theServersExpiryBecomesTheFirstDayItNoLongerWorks(_ reported: String, _ day: String) {
        #expect(SCMTokenReport(user: "u", scopes: nil, expiresAt: reported).expiryDay == day)
    }

    @Test(arguments: ["", "2027-6-30", "2027-06-3", "27-06-30", "2027/06/30", "2027-06-30X", "２０２７-06-30", "2027-0a-30", "never", "2027-06-30\n"])
    func anExpiryInAnotherFormGivesNoDay(_ reported: String) {
        #expect(SCMTokenReport(user: "u", scopes: nil, expiresAt: reported).expiryDay == nil, "\(reported)")
    }

    @Test func noExpiryAndAnInactiveToken() {
        #expect(SCMTokenReport(user: "u", scopes: nil, expiresAt: nil).expiryDay == nil)
        #expect(!SCMTokenReport(user: "u", scopes: ["api"], expiresAt: nil, active: false).ok, "an inactive token is never ok")
        #expect(!SCMTokenReport(user: "u", scopes: [], expiresAt: nil, missing: ["scope api"]).ok)
    }
}
