@testable import LatchkeyCrypto
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

/// The memory behind `SecretBytes`: wiped on release, closed when idle.
@Suite(.serialized) struct GuardedMemoryTests {
    @Test func bytesAreWipedWhenTheSecretIsReleased() throws {
        // A size class no other test uses, so the emptied region stays in the pool untouched.
        var pattern = [UInt8](repeating: 0xA5, count: 9000)
        var secret: SecretBytes? = try SecretBytes(consuming: &pattern)
        let address = secret!.withUnsafeBytes { UnsafeRawPointer($0.baseAddress!) }
        #expect(secret!.withUnsafeBytes { $0.allSatisfy { $0 == 0xA5 } })
        secret = nil
        // The region went back to the pool read-write and empty.
        let after = UnsafeRawBufferPointer(start: address, count: 9000)
        #expect(after.allSatisfy { $0 == 0 })
        // The next secret of that class reuses it and sees only its own bytes.
        var other = [UInt8](repeating: 0x11, count: 8500)
        let reused = try SecretBytes(consuming: &other)
        #expect(reused.withUnsafeBytes { $0.baseAddress! } == address)
        #expect(reused.withUnsafeBytes { $0.allSatisfy { $0 == 0x11 } })
    }

    @Test func idleSecretsAreClosedAndReopenOnRead() throws {
        var bytes: [UInt8] = Array("idle-secret".utf8)
        let secret = try SecretBytes(consuming: &bytes)
        #expect(secret.isReadable)
        // Read since the last pass: left open by one pass, closed by the next.
        IdleProtector.shared.pass()
        IdleProtector.shared.pass()
        #expect(!secret.isReadable)
        #expect(secret.constantTimeEquals(Array("idle-secret".utf8)))  // reopened for the read
        #expect(secret.isReadable)
    }

    @Test func aSecretInUseIsNeverClosed() throws {
        let secret = try SecretBytes.random(count: 32)
        secret.withUnsafeBytes { bytes in
            for _ in 0..<3 { IdleProtector.shared.pass() }
            #expect(secret.isReadable)
            _ = bytes.reduce(0, ^)  // would fault if the pages had been closed
        }
    }
}
