/// A request from an ssh-agent client, in OpenSSH's agent protocol
/// (draft-miller-ssh-agent, PROTOCOL.agent): a frame is `uint32 length ‖ byte type ‖ contents`.
///
/// A per-session agent answers two requests — list identities and sign — and
/// classifies every other message type as `unsupported`, to be answered with
/// `SSH_AGENT_FAILURE` (as OpenSSH's agent does), never with a crash.
package enum SSHAgentMessage: Sendable, Equatable {
    /// `SSH_AGENTC_REQUEST_IDENTITIES` (11): no contents.
    case requestIdentities
    /// `SSH_AGENTC_SIGN_REQUEST` (13): `string key blob ‖ string data ‖ uint32 flags`.
    case signRequest(keyBlob: [UInt8], data: [UInt8], flags: UInt32)
    /// Any other message type (add/remove keys, lock, extensions, …).
    case unsupported(type: UInt8)

    /// OpenSSH's `AGENT_MAX_LEN`: a frame announcing more is refused before any allocation.
    package static let maxFrameBytes = 256 * 1024

    /// Message numbers (draft-miller-ssh-agent §6.1).
    package enum MessageType {
        package static let failure: UInt8 = 5
        package static let success: UInt8 = 6
        package static let requestIdentities: UInt8 = 11
        package static let identitiesAnswer: UInt8 = 12
        package static let signRequest: UInt8 = 13
        package static let signResponse: UInt8 = 14
    }

    /// Parses one frame's body (type and contents, without the length prefix), as
    /// `SSHAgentFramer.nextFrame` yields it.
    package init(frame: [UInt8]) throws(SSHKeyError) {
        var r = SSHWireReader(frame)
        guard let type = r.readUInt8() else { throw .agentMessageMalformed(reason: "empty message") }
        switch type {
        case MessageType.requestIdentities:
            self = .requestIdentities
        case MessageType.signRequest:
            guard let keyBlob = r.readString() else { throw .agentMessageMalformed(reason: "sign request: key blob truncated") }
            guard let data = r.readString() else { throw .agentMessageMalformed(reason: "sign request: data truncated") }
            guard let flags = r.readUInt32() else { throw .agentMessageMalformed(reason: "sign request: flags truncated") }
            self = .signRequest(keyBlob: keyBlob, data: data, flags: flags)
        default:
            self = .unsupported(type: type)
            return  // contents of messages we do not serve are not inspected
        }
        guard r.isAtEnd else { throw .agentMessageMalformed(reason: "\(r.remaining) bytes after message type \(type)") }
    }

    /// The request as a complete frame (length prefix included): what a client sends.
    /// `unsupported` encodes as a bare message type.
    package var frame: [UInt8] {
        var w = SSHWireWriter()
        switch self {
        case .requestIdentities:
            w.writeUInt8(MessageType.requestIdentities)
        case .signRequest(let keyBlob, let data, let flags):
            w.writeUInt8(MessageType.signRequest)
            w.writeString(keyBlob)
            w.writeString(data)
            w.writeUInt32(flags)
        case .unsupported(let type):
            w.writeUInt8(type)
        }
        return Self.framed(w.bytes)
    }

    // MARK: Replies

    /// `SSH_AGENT_IDENTITIES_ANSWER` (12): `uint32 count ‖ (string key blob ‖ string comment)*`, framed.
    package static func identitiesAnswer(_ identities: [SSHAgentIdentity]) -> [UInt8] {
        var w = SSHWireWriter()
        w.writeUInt8(MessageType.identitiesAnswer)
        w.writeUInt32(UInt32(identities.count))
        for identity in identities {
            w.writeString(identity.keyBlob)
            w.writeString(identity.comment)
        }
        return framed(w.bytes)
    }

    /// `SSH_AGENT_SIGN_RESPONSE` (14): `string signature` (an SSH signature blob, as
    /// `DeployKey.sign` returns), framed.
    package static func signResponse(signature: [UInt8]) -> [UInt8] {
        var w = SSHWireWriter()
        w.writeUInt8(MessageType.signResponse)
        w.writeString(signature)
        return framed(w.bytes)
    }

    /// `SSH_AGENT_FAILURE` (5), framed.
    package static let failure: [UInt8] = framed([MessageType.failure])

    static func framed(_ body: [UInt8]) -> [UInt8] {
        var w = SSHWireWriter(reservingCapacity: body.count + 4)
        w.writeString(body)
        return w.bytes
    }
}

/// One key an agent offers: its public blob and a comment.
package struct SSHAgentIdentity: Sendable, Equatable {
    package let keyBlob: [UInt8]
    package let comment: String

    package init(keyBlob: [UInt8], comment: String) {
        self.keyBlob = keyBlob
        self.comment = comment
    }
}

/// An agent's answer, parsed (what a client reads; used by tests and clients of the agent).
package enum SSHAgentReply: Sendable, Equatable {
    case identities([SSHAgentIdentity])
    case signature([UInt8])
    case failure
    case other(type: UInt8)

    /// Parses one frame's body (without the length prefix).
    package init(frame: [UInt8]) throws(SSHKeyError) {
        var r = SSHWireReader(frame)
        guard let type = r.readUInt8() else { throw .agentMessageMalformed(reason: "empty message") }
        switch type {
        case SSHAgentMessage.MessageType.identitiesAnswer:
            guard let count = r.readUInt32() else { throw .agentMessageMalformed(reason: "identities answer: count truncated") }
            // Each identity takes at least 8 bytes: bound the count before reserving.
            guard Int(count) <= r.remaining / 8 else {
                throw .agentMessageMalformed(reason: "identities answer: \(count) identities do not fit in \(r.remaining) bytes")
            }
            var identities: [SSHAgentIdentity] = []
            identities.reserveCapacity(Int(count))
            for _ in 0..<count {
                guard let blob = r.readString(), let comment = r.readString() else {
                    throw .agentMessageMalformed(reason: "identities answer: identity truncated")
                }
                identities.append(SSHAgentIdentity(keyBlob: blob, comment: String(decoding: comment, as: UTF8.self)))
            }
            self = .identities(identities)
        case SSHAgentMessage.MessageType.signResponse:
            guard let signature = r.readString() else { throw .agentMessageMalformed(reason: "sign response truncated") }
            self = .signature(signature)
        case SSHAgentMessage.MessageType.failure:
            self = .failure
        default:
            self = .other(type: type)
            return
        }
        guard r.isAtEnd else { throw .agentMessageMalformed(reason: "\(r.remaining) bytes after message type \(type)") }
    }
}

/// Cuts a byte stream into agent frames. Feed it chunks as they arrive, in any
/// sizes; `nextFrame` returns each complete frame's body once all its bytes are
/// in, and nil while a frame is still partial.
///
/// The length prefix is checked against `maxFrameBytes` as soon as its four bytes
/// arrive, before anything is reserved for the frame; an oversized or empty frame
/// is an error, and the framer then refuses everything (drop the connection).
package struct SSHAgentFramer: Sendable {
    package let maxFrameBytes: Int
    private var buffer: [UInt8] = []
    private var start = 0
    private var failure: SSHKeyError?

    package init(maxFrameBytes: Int = SSHAgentMessage.maxFrameBytes) {
        self.maxFrameBytes = maxFrameBytes
    }

    /// Bytes received and not yet returned as frames.
    package var bufferedByteCount: Int { buffer.count - start }

    package mutating func append(_ bytes: some Sequence<UInt8>) {
        guard failure == nil else { return }
        if start > 0 && start >= buffer.count / 2 {
            buffer.removeFirst(start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete frame's body (type and contents), or nil if more bytes are needed.
    package mutating func nextFrame() throws(SSHKeyError) -> [UInt8]? {
        if let failure { throw failure }
        guard bufferedByteCount >= 4 else { return nil }
        let length = buffer[start..<(start + 4)].reduce(0) { $0 << 8 | Int($1) }
        guard length <= maxFrameBytes else { throw fail(.agentFrameTooLarge(length: length, limit: maxFrameBytes)) }
        guard length > 0 else { throw fail(.agentMessageMalformed(reason: "zero-length frame")) }
        guard bufferedByteCount - 4 >= length else { return nil }
        let body = Array(buffer[(start + 4)..<(start + 4 + length)])
        start += 4 + length
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        return body
    }

    /// Remembers a framing error: the stream has lost its frame boundaries for good.
    private mutating func fail(_ error: SSHKeyError) -> SSHKeyError {
        failure = error
        buffer.removeAll()
        start = 0
        return error
    }

    /// The next complete request, parsed.
    package mutating func nextMessage() throws(SSHKeyError) -> SSHAgentMessage? {
        guard let frame = try nextFrame() else { return nil }
        return try SSHAgentMessage(frame: frame)
    }
}
