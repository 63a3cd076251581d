import LatchkeyCrypto
import Testing

@Suite struct SecretBytesTests {
    @Test func descriptionIsRedacted() throws {
        var bytes: [UInt8] = Array("hunter2-very-secret".utf8)
        let secret = try SecretBytes(consuming: &bytes)
        #expect(bytes.isEmpty)
        #expect("\(secret)" == "<redacted 19 bytes>")
        #expect(String(reflecting: secret) == "<redacted 19 bytes>")
        var dumped = ""
        dump(secret, to: &dumped)
        #expect(!dumped.contains("hunter2"))
    }

    @Test func comparesOnlyInConstantTime() throws {
        var a: [UInt8] = [1, 2, 3]
        var b: [UInt8] = [1, 2, 3]
        let sa = try SecretBytes(consuming: &a)
        let sb = try SecretBytes(consuming: &b)
        #expect(sa.constantTimeEquals(sb))
        #expect(sa.constantTimeEquals([1, 2, 3]))
        #expect(!sa.constantTimeEquals([1, 2, 4]))
        #expect(!sa.constantTimeEquals([1, 2]))
    }
}
