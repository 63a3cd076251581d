import LatchkeyCrypto
import LatchkeySSH
import Testing

@Suite struct SSHAgentMessageTests {
    @Test func requestsRoundTripThroughTheFramer() throws {
        let requests: [SSHAgentMessage] = [
            .requestIdentities,
            .signRequest(keyBlob: [1, 2, 3], data: Array("session data".utf8), flags: 4),
            .signRequest(keyBlob: [], data: [], flags: 0),
            .unsupported(type: 17),
        ]
        var framer = SSHAgentFramer()
        framer.append(requests.flatMap(\.frame))
        for request in requests {
            #expect(try framer.nextMessage() == request)
        }
        #expect(try framer.nextMessage() == nil)
        #expect(framer.bufferedByteCount == 0)
    }

    @Test func wireBytesFollowTheDraft() {
        #expect(SSHAgentMessage.requestIdentities.frame == [0, 0, 0, 1, 11])
        #expect(SSHAgentMessage.failure == [0, 0, 0, 1, 5])
        #expect(SSHAgentMessage.signResponse(signature: [9, 9]) == [0, 0, 0, 7, 14, 0, 0, 0, 2, 9, 9])
        #expect(
            SSHAgentMessage.identitiesAnswer([SSHAgentIdentity(keyBlob: [7], comment: "c")])
                == [0, 0, 0, 15, 12, 0, 0, 0, 1, 0, 0, 0, 1, 7, 0, 0, 0, 1, 99])
        #expect(
            SSHAgentMessage.signRequest(keyBlob: [7], data: [8], flags: 2).frame
                == [0, 0, 0, 15, 13, 0, 0, 0, 1, 7, 0, 0, 0, 1, 8, 0, 0, 0, 2])
    }

    @Test func repliesRoundTrip() throws {
        let identities = [
            SSHAgentIdentity(keyBlob: try SharedKeys.key(.ed25519).publicKeyBlob, comment: "latchkey:web:v1"),
            SSHAgentIdentity(keyBlob: try SharedKeys.key(.ecdsaP256).publicKeyBlob, comment: ""),
        ]
        var framer = SSHAgentFramer()
        framer.append(SSHAgentMessage.identitiesAnswer(identities))
        framer.append(SSHAgentMessage.identitiesAnswer([]))
        framer.append(SSHAgentMessage.signResponse(signature: [1, 2]))
        framer.append(SSHAgentMessage.failure)
        #expect(try SSHAgentReply(frame: try #require(try framer.nextFrame())) == .identities(identities))
        #expect(try SSHAgentReply(frame: try #require(try framer.nextFrame())) == .identities([]))
        #expect(try SSHAgentReply(frame: try #require(try framer.nextFrame())) == .signature([1, 2]))
        #expect(try SSHAgentReply(frame: try #require(try framer.nextFrame())) == .failure)
    }

    @Test func partialFrameWaitsForTheRest() throws {
        let frame = SSHAgentMessage.signRequest(keyBlob: [1, 2, 3], data: [4, 5], flags: 0).frame
        var framer = SSHAgentFramer()
        for byte in frame.dropLast() {
            framer.append([byte])
            #expect(try framer.nextFrame() == nil)
        }
        framer.append([frame.last!])
        #expect(try framer.nextMessage() == .signRequest(keyBlob: [1, 2, 3], data: [4, 5], flags: 0))
    }

    @Test func chunksSplitAnywhereYieldTheSameFrames() throws {
        let stream = (0..<5).flatMap { i in
            SSHAgentMessage.signRequest(keyBlob: [UInt8(i)], data: [UInt8](repeating: UInt8(i), count: i * 3), flags: UInt32(i)).frame
        }
        for chunk in [1, 2, 3, 5, 8, 13, stream.count] {
            var framer = SSHAgentFramer()
            var seen: [SSHAgentMessage] = []
            var offset = 0
            while offset < stream.count {
                framer.append(stream[offset..<min(offset + chunk, stream.count)])
                offset += chunk
                while let message = try framer.nextMessage() { seen.append(message) }
            }
            #expect(seen.count == 5)
        }
    }

    @Test func oversizedFrameIsRefusedFromItsLengthAlone() throws {
        var framer = SSHAgentFramer()
        framer.append([0x00, 0x04, 0x00, 0x01])  // 256 KiB + 1, no body sent
        let error = #expect(throws: SSHKeyError.self) { try framer.nextFrame() }
        #expect(error?.code == "ssh_agent_frame_too_large")
        framer.append(SSHAgentMessage.requestIdentities.frame)
        #expect(throws: SSHKeyError.self) { try framer.nextFrame() }  // the connection is done
        #expect(framer.bufferedByteCount == 0)  // nothing more is kept for it
        var huge = SSHAgentFramer()
        huge.append([0xff, 0xff, 0xff, 0xff])
        #expect(throws: SSHKeyError.agentFrameTooLarge(length: 0xffff_ffff, limit: SSHAgentMessage.maxFrameBytes)) {
            try huge.nextFrame()
        }
        var exact = SSHAgentFramer()
        exact.append([0x00, 0x04, 0x00, 0x00])  // exactly the limit: waits for the body
        #expect(try exact.nextFrame() == nil)
    }

    @Test func zeroLengthFrameIsRefused() {
        var framer = SSHAgentFramer()
        framer.append([0, 0, 0, 0])
        #expect(throws: SSHKeyError.agentMessageMalformed(reason: "zero-length frame")) { try framer.nextFrame() }
    }

    @Test func unknownTypesAreClassifiedUnsupported() throws {
        for type in [UInt8(1), 5, 12, 17, 18, 19, 22, 25, 27, 255] {
            #expect(try SSHAgentMessage(frame: [type, 0xde, 0xad]) == .unsupported(type: type))
        }
    }

    @Test func malformedRequestsAreRefused() {
        let cases: [[UInt8]] = [
            [],
            [11, 0],  // request identities with a trailing byte
            [13],
            [13, 0, 0, 0, 5, 1],  // key blob truncated
            [13, 0, 0, 0, 1, 7, 0, 0, 0, 9, 1],  // data truncated
            [13, 0, 0, 0, 1, 7, 0, 0, 0, 1, 8, 0, 0],  // flags truncated
            [13, 0, 0, 0, 1, 7, 0, 0, 0, 1, 8, 0, 0, 0, 0, 1],  // trailing byte
        ]
        for frame in cases {
            let error = #expect(throws: SSHKeyError.self) { try SSHAgentMessage(frame: frame) }
            #expect(error?.code == "ssh_agent_malformed")
        }
    }

    @Test func identitiesAnswerWithImpossibleCountIsRefused() {
        #expect(throws: SSHKeyError.self) { try SSHAgentReply(frame: [12, 0xff, 0xff, 0xff, 0xff]) }
        #expect(throws: SSHKeyError.self) { try SSHAgentReply(frame: [12, 0, 0, 0, 1, 0, 0, 0, 0]) }
    }

    /// A sign request answered with `DeployKey.sign` carries a signature the key's
    /// public half verifies (ed25519 checked with libsodium).
    @Test func signRequestAnsweredWithDeployKeySignatureVerifies() throws {
        let key = try SharedKeys.key(.ed25519)
        var framer = SSHAgentFramer()
        framer.append(SSHAgentMessage.signRequest(keyBlob: key.publicKeyBlob, data: Array("challenge".utf8), flags: 0).frame)
        guard case .signRequest(let blob, let data, let flags) = try framer.nextMessage() else {
            Issue.record("not a sign request")
            return
        }
        #expect(blob == key.publicKeyBlob)
        var replies = SSHAgentFramer()
        replies.append(SSHAgentMessage.signResponse(signature: try key.sign(data, flags: flags)))
        guard case .signature(let signature) = try SSHAgentReply(frame: try #require(try replies.nextFrame())) else {
            Issue.record("not a signature")
            return
        }
        var r = SSHWireReader(signature)
        #expect(r.readUTF8String() == "ssh-ed25519")
        let raw = r.readString() ?? []
        var pk = SSHWireReader(key.publicKeyBlob)
        _ = pk.readString()
        #expect(ed25519Verify(signature: raw, message: data, publicKey: pk.readString() ?? []))
    }
}
