import Foundation
import LatchkeyCrypto
import Testing

@Suite struct RandomTokenTests {
    @Test func aTokenIsItsPrefixThenUnpaddedBase64URLOfItsBytes() throws {
        let token = String(decoding: randomToken(prefix: "lks_", bytes: 32), as: UTF8.self)
        #expect(token.hasPrefix("lks_"))
        let body = token.dropFirst(4)
        #expect(body.count == 43, "32 bytes are 43 characters without padding")
        #expect(body.utf8.allSatisfy { ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 95 })
        let standard = body.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/") + "="
        #expect(Data(base64Encoded: standard)?.count == 32)
    }

    @Test func tokensDoNotRepeat() {
        let tokens = Set((0..<1000).map { _ in randomToken(prefix: "", bytes: 32) })
        #expect(tokens.count == 1000)
    }
}
