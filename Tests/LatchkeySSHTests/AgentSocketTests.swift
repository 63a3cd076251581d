import Foundation
import LatchkeySSH
import Testing

/// A minimal agent over a Unix socket built only from `SSHAgentFramer`,
/// `SSHAgentMessage` and `DeployKey.sign`, so OpenSSH's own clients can exercise
/// the codec. One connection at a time, on a background thread.
final class TestAgent: @unchecked Sendable {
    // `@unchecked Sendable`: `listener` is written once in init; the thread only reads it.
    let path: String
    private let listener: Int32
    private let identities: [(key: DeployKey, comment: String)]

    init(path: String, identities: [(key: DeployKey, comment: String)]) throws {
        self.path = path
        self.identities = identities
        listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw POSIXError(.EIO) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { dest in
            let bytes = Array(path.utf8)
            precondition(bytes.count < dest.count)
            dest.copyBytes(from: bytes)
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(listener, 4) == 0 else { throw POSIXError(.EADDRINUSE) }
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    /// Wakes the blocked accept (shutdown does on Linux) and closes the socket.
    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        unlink(path)
    }

    private func acceptLoop() {
        while true {
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { return }
            serve(connection)
            close(connection)
        }
    }

    private func serve(_ fd: Int32) {
        var framer = SSHAgentFramer()
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fd, &chunk, chunk.count)
            guard n > 0 else { return }
            framer.append(chunk[0..<n])
            do {
                while let message = try framer.nextMessage() {
                    let reply = answer(message)
                    guard reply.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == reply.count else { return }
                }
            } catch {
                return  // oversized or malformed: drop the connection, as ssh-agent does
            }
        }
    }

    private func answer(_ message: SSHAgentMessage) -> [UInt8] {
        switch message {
        case .requestIdentities:
            return SSHAgentMessage.identitiesAnswer(identities.map { SSHAgentIdentity(keyBlob: $0.key.publicKeyBlob, comment: $0.comment) })
        case .signRequest(let blob, let data, let flags):
            guard let key = identities.first(where: { $0.key.publicKeyBlob == blob })?.key,
                let signature = try? key.sign(data, flags: flags)
            else { return SSHAgentMessage.failure }
            return SSHAgentMessage.signResponse(signature: signature)
        case .unsupported:
            return SSHAgentMessage.failure
        }
    }
}

@Suite(.serialized) struct AgentSocketTests {
    /// `ssh-add -L` lists our identities exactly as our authorized_keys lines, and
    /// `ssh-keygen -Y sign` signs through our agent codec with each key type (RSA via
    /// the rsa-sha2-512 flag) — the signatures verify with `ssh-keygen -Y check-novalidate`.
    @Test func opensshClientsListAndSignThroughOurAgentCodec() throws {
        let dir = try TempDirectory()
        let identities = try DeployKeyType.allCases.map { (key: try SharedKeys.key($0), comment: "latchkey:web:\($0.rawValue)") }
        let agent = try TestAgent(path: dir.file("agent.sock"), identities: identities)
        defer { agent.stop() }
        let environment = ["SSH_AUTH_SOCK": agent.path, "PATH": "/usr/bin:/bin"]

        let listed = try Tool.run("/usr/bin/ssh-add", ["-L"], environment: environment)
        #expect(listed.status == 0, "\(listed.stderr)")
        let expected = identities.map { $0.key.authorizedKeysLine(comment: $0.comment) }
        #expect(listed.stdout.split(separator: "\n").map(String.init) == expected)

        for (key, comment) in identities {
            let pub = try dir.write("\(key.type.rawValue).pub", Array((key.authorizedKeysLine(comment: comment) + "\n").utf8))
            let message = Array("signed through the agent by \(key.type.rawValue)".utf8)
            let signed = try Tool.sshKeygen(["-Y", "sign", "-f", pub, "-n", "file"], stdin: message, environment: environment)
            #expect(signed.status == 0, "\(key.type): \(signed.stderr)")
            let sig = try dir.write("\(key.type.rawValue).sig", signed.output)
            let check = try Tool.sshKeygen(["-Y", "check-novalidate", "-n", "file", "-s", sig], stdin: message)
            #expect(check.status == 0 && check.stdout.contains("Good"), "\(key.type): \(check.stdout) \(check.stderr)")
        }
    }

    /// OpenSSH's `ssh-add -D` (remove all identities) is a message we do not serve:
    /// it gets SSH_AGENT_FAILURE and the client reports the failure.
    @Test func unsupportedRequestFromSshAddGetsFailure() throws {
        let dir = try TempDirectory()
        let agent = try TestAgent(path: dir.file("agent.sock"), identities: [])
        defer { agent.stop() }
        let result = try Tool.run("/usr/bin/ssh-add", ["-D"], environment: ["SSH_AUTH_SOCK": agent.path])
        #expect(result.status != 0)
        let empty = try Tool.run("/usr/bin/ssh-add", ["-L"], environment: ["SSH_AUTH_SOCK": agent.path])
        #expect(empty.status == 1 && empty.stdout.contains("no identities"), "\(empty.stdout) \(empty.stderr)")
    }
}
