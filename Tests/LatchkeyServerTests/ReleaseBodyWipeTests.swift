import Foundation
import LatchkeyAPI
import LatchkeyClient
import LatchkeyServer
import NIOCore
import Synchronization
import Testing

/// Released secrets do not linger in the daemon's answer buffers (#16 finding 5): each
/// release's body is zeroed where the socket read it from, once written.
@Suite(.serialized) struct ReleaseBodyWipeTests {
    @Test func theAnswerBufferOfEveryReleaseIsZeroedOnceWritten() async throws {
        let d = try await TestDaemon()
        let seen = Mutex<[[UInt8]]>([])
        SecretBodyWipe.observe { buffer in seen.withLock { $0.append(Array(buffer.readableBytesView)) } }
        defer { SecretBodyWipe.observe(nil) }
        let before = SecretBodyWipe.wiped.current
        let released = try await offPool { () -> [String] in
            let c = try d.client()
            let _: ConnectionInfo = try c.call("POST", "/v1/connections", body: ConnectionRequest(name: "ghe", kind: "github-enterprise", url: "https://ghe.example.com"))
            let _: ProjectInfo = try c.call("POST", "/v1/projects", body: ProjectRequest(name: "web", connection: "ghe", repo: "acme/web"))
            let _: DeployKeyInfo = try c.call("POST", "/v1/projects/web/deploy-keys", body: DeployKeyRequest(type: "rsa-3072"))
            let s: SessionOpened = try c.call("POST", "/v1/sessions", body: SessionOpenRequest(project: "web", build: "b", grants: ["deploy-key"], ttlSeconds: 60, uses: 3))
            // Three uses: the first two answered on the event loop, the last by the checked path.
            return try (0..<3).map { _ in
                String(decoding: try d.client().call("GET", "/v1/session/deploy-key", bearer: s.token), as: UTF8.self)
            }
        }
        #expect(released.allSatisfy { $0.contains("BEGIN OPENSSH PRIVATE KEY") }, "the releases carried the key")
        // Other suites release too, in this process: ours are the buffers of our answers' lengths.
        let lengths = Set(released.map(\.utf8.count))
        // The wipe runs when the write completes: give the loop a moment.
        for _ in 0..<100 where seen.withLock({ $0.filter { lengths.contains($0.count) }.count }) < 3 { try await Task.sleep(for: .milliseconds(10)) }
        let buffers = seen.withLock { $0.filter { lengths.contains($0.count) } }
        #expect(buffers.count == 3 && SecretBodyWipe.wiped.current - before >= 3)
        for b in buffers {
            #expect(b.count > 2_000, "the whole body (\(b.count) bytes) was the one buffer")
            #expect(b.allSatisfy { $0 == 0 }, "the answer buffer still holds bytes after the write")
        }
        await d.stop()
    }
}
