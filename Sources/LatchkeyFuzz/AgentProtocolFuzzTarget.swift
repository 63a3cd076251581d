import LatchkeySSH

/// The ssh-agent protocol: the input is a byte stream cut into frames (fed in two
/// chunks at a point the first byte picks), each frame parsed as a request (what the
/// session agent reads) and as a reply (what clients of the agent read).
enum AgentProtocolFuzzTarget {
    static func run(_ input: [UInt8]) {
        guard let first = input.first else { return }
        let stream = Array(input.dropFirst())
        let split = stream.isEmpty ? 0 : Int(first) % (stream.count + 1)
        var framer = SSHAgentFramer(maxFrameBytes: 64 * 1024)
        for chunk in [stream[..<split], stream[split...]] {
            framer.append(chunk)
            while true {
                guard let frame = try? framer.nextFrame() else { break }
                _ = try? SSHAgentMessage(frame: frame)
                _ = try? SSHAgentReply(frame: frame)
            }
            guard framer.bufferedByteCount <= 64 * 1024 + 4 else { fuzzFailure("the framer buffered past its limit") }
        }
    }
}
