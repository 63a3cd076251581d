/// OpenSSH's agent protocol (PROTOCOL.agent / draft-miller-ssh-agent): each message is
/// uint32 length ‖ byte type ‖ contents. Latchkey's session agent answers identity
/// requests and signature requests; every other request gets SSH_AGENT_FAILURE.
public enum SSHAgentMessage: Equatable, Sendable {
    case requestIdentities
    case signRequest(keyBlob: [UInt8], data: [UInt8], flags: UInt32)
    /// Any other request type (add, remove, lock, extension, …), refused.
    case unsupported(type: UInt8)

    public static let failure: UInt8 = 5
    public static let requestIdentitiesType: UInt8 = 11
    public static let identitiesAnswer: UInt8 = 12
    public static let signRequestType: UInt8 = 13
    public static let signResponse: UInt8 = 14
    /// Largest message accepted, as OpenSSH's own agent (AGENT_MAX_LEN).
    public static let maxLength = 256 * 1024

    /// Parses one message's payload (type byte and contents, without the length).
    public static func parse(_ payload: [UInt8]) throws(SSHKeyError) -> SSHAgentMessage {
        var r = SSHWireReader(payload)
        let type = try r.byte("message type")
        switch type {
        case requestIdentitiesType:
            guard r.isAtEnd else { throw .trailingData("REQUEST_IDENTITIES") }
            return .requestIdentities
        case signRequestType:
            let blob = try r.string("key blob")
            let data = try r.string("data")
            let flags = try r.uint32("flags")
            guard r.isAtEnd else { throw .trailingData("SIGN_REQUEST") }
            return .signRequest(keyBlob: blob, data: data, flags: flags)
        default:
            return .unsupported(type: type)
        }
    }

    /// A framed request (what a client such as ssh sends).
    public func encoded() -> [UInt8] {
        var w = SSHWireWriter()
        switch self {
        case .requestIdentities: w.byte(Self.requestIdentitiesType)
        case .signRequest(let blob, let data, let flags):
            w.byte(Self.signRequestType)
            w.string(blob)
            w.string(data)
            w.uint32(flags)
        case .unsupported(let t): w.byte(t)
        }
        return Self.frame(w.bytes)
    }

    public static func frame(_ payload: [UInt8]) -> [UInt8] {
        var w = SSHWireWriter()
        w.string(payload)
        return w.bytes
    }

    public static func identitiesAnswer(_ keys: [(blob: [UInt8], comment: String)]) -> [UInt8] {
        var w = SSHWireWriter()
        w.byte(identitiesAnswer)
        w.uint32(UInt32(keys.count))
        for k in keys {
            w.string(k.blob)
            w.string(k.comment)
        }
        return frame(w.bytes)
    }

    public static func signResponse(_ signature: [UInt8]) -> [UInt8] {
        var w = SSHWireWriter()
        w.byte(signResponse)
        w.string(signature)
        return frame(w.bytes)
    }

    public static let failureReply: [UInt8] = frame([failure])
}

/// Splits a byte stream into agent messages, whatever the read sizes. The length is
/// checked against `SSHAgentMessage.maxLength` before anything is buffered for it.
public struct SSHAgentFramer: Sendable {
    private var buffer: [UInt8] = []

    public init() {}

    /// Adds bytes; returns the complete payloads now available (type byte first).
    public mutating func feed(_ bytes: some Collection<UInt8>) throws(SSHKeyError) -> [[UInt8]] {
        buffer += bytes
        var out: [[UInt8]] = []
        while buffer.count >= 4 {
            let n = Int(UInt32(buffer[0]) << 24 | UInt32(buffer[1]) << 16 | UInt32(buffer[2]) << 8 | UInt32(buffer[3]))
            guard n >= 1, n <= SSHAgentMessage.maxLength else { throw .frameTooLarge(n) }
            guard buffer.count >= 4 + n else { break }
            out.append(Array(buffer[4..<(4 + n)]))
            buffer.removeFirst(4 + n)
        }
        return out
    }
}
