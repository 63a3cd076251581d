@testable import LatchkeyCore
import NIOCore
import Testing

/// Header names are tokens compared without ASCII case (RFC 9110 §5.1), byte by byte.
@Suite struct RequestHeaderTests {
    @Test func namesMatchWithoutASCIICaseAndOnlyThen() {
        for (a, b) in [("X-Request-Id", "x-request-id"), ("Authorization", "authorization"), ("authorizatioN", "AUTHORIZATION"), ("", "")] {
            #expect(Request.sameName(a, b), "\(a) = \(b)")
        }
        // Bit 0x20 alone makes a case pair only between letters: "[" is not "{", "@" not "`".
        for (a, b) in [("authorization ", "authorization"), ("x-request_id", "x-request-id"), ("a[", "a{"), ("@", "`"), ("É", "é"), ("K", "\u{212A}")] {
            #expect(!Request.sameName(a, b), "\(a) ≠ \(b)")
        }
    }

    @Test func aHeaderIsFoundWhateverItsCaseAndTheFirstOneCounts() {
        let request = Request(
            method: .GET, uri: "/v1/session?x=1", headers: [("AUTHORIZATION", "Bearer one"), ("authorization", "Bearer two"), ("X-REQUEST-ID", "build-7")],
            body: ByteBuffer(), peer: PeerCredentials(pid: 1, uid: 2, gid: 3), requestID: "r1")
        #expect(request.header("Authorization") == "Bearer one")
        #expect(request.header("x-missing") == nil)
        #expect(request.clientRequestID == "build-7")
    }
}
