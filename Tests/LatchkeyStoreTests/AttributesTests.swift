import Foundation
@testable import LatchkeyStore
import Testing

/// Stored attributes are written by Foundation's encoder and read by the flat parser:
/// whatever the encoder writes must come back the same.
@Suite struct AttributesTests {
    @Test func whatTheStoreWritesReadsBackTheSame() throws {
        let samples: [[String: String]] = [
            [:],
            ["username": "ci-bot", "expires": "2027-01-01"],
            ["comment": "quote \" backslash \\ slash / tab \t newline \n nul-free \u{1} é ✓ 𝄞"],
            ["public_key": "ssh-rsa " + String(repeating: "A", count: 700) + " latchkey:web:v1", "fingerprint": "SHA256:abc+/="],
        ]
        for attrs in samples {
            let json = String(decoding: try JSONEncoder.sorted.encode(attrs), as: UTF8.self)
            #expect(SecretVersion.attributes(json) == attrs, "\(json.prefix(80))")
        }
    }

    @Test func whatIsNotAnObjectOfStringsReadsAsNone() {
        for bad in ["", "[]", "{\"a\":1}", "{\"a\":null}", "{\"a\":\"b\"", "{\"a\":{\"b\":\"c\"}}", "not json"] {
            #expect(SecretVersion.attributes(bad).isEmpty, "\(bad)")
        }
    }
}
