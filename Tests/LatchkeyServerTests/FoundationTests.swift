import Foundation
import LatchkeyAPI
import LatchkeyClient
import LatchkeyServer
import LatchkeyStore
import LatchkeyCrypto
import Testing

@Suite(.serialized) struct DaemonFoundationTests {
    @Test func healthAnswersOverTheSocketWithMode0660() async throws {
        let d = try await TestDaemon()
        try await offPool {
            let h = try d.client().health()
            #expect(h.status == "ok" && h.keyGeneration == 1 && h.version == latchkeyVersion)
            #expect(d.socketModeAtStart == 0o660)
        }
        await d.stop()
        #expect(access(d.socketPath, F_OK) != 0)
    }

    @Test func malformedAndOversizedRequestsGetClearErrorsAndDaemonKeepsServing() async throws {
        let d = try await TestDaemon()
        try await offPool {
            let garbage = d.raw(Array("NOT HTTP AT ALL\0\r\n\r\n".utf8))
            #expect(garbage.contains("400") && garbage.contains("\"bad_http\""))
            let big = d.raw(Array("POST /v1/health HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n".utf8) + [UInt8](repeating: 65, count: 70000))
            #expect(big.contains("413") && big.contains("body_too_large"))
            var headers = "GET /v1/health HTTP/1.1\r\nHost: x\r\n"
            for i in 0..<100 { headers += "X-Filler-\(i): \(String(repeating: "v", count: 100))\r\n" }
            let many = d.raw(Array((headers + "\r\n").utf8))
            #expect(many.contains("431") && many.contains("headers_too_large"))
            let unknown = d.raw(Array("GET /v1/../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8))
            #expect(unknown.contains("404"))
            let method = d.raw(Array("DELETE /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8))
            #expect(method.contains("405"))
            // Still serving well-behaved clients.
            let health = try d.client().health()
            #expect(health.status == "ok")
        }
        await d.stop()
    }

    @Test func slowRequestIsCutOff() async throws {
        // A request that never completes is answered 408 and closed, not held forever.
        let d = try await TestDaemon()
        try await offPool {
            let partial = d.raw(Array("GET /v1/health HTTP/1.1\r\nHost: x\r\n".utf8), wait: 5)
            #expect(partial.contains("408") && partial.contains("request_timeout"))
        }
        await d.stop()
    }

    /// A client that sends its requests and shuts down its write side gets every answer,
    /// then the close; one that half-closes with nothing asked is closed at once.
    @Test func aClientThatHalfClosesIsAnsweredThenClosed() async throws {
        let d = try await TestDaemon()
        try await offPool {
            let health = "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n"
            let one = d.raw(Array(health.utf8), wait: 5, halfClose: true)
            #expect(one.hasPrefix("HTTP/1.1 200"), "\(one)")
            let two = d.raw(Array((health + health).utf8), wait: 5, halfClose: true)
            #expect(two.components(separatedBy: "HTTP/1.1 200").count == 3, "\(two)")
            let start = Date()
            #expect(d.raw([], wait: 5, halfClose: true).isEmpty)
            #expect(Date().timeIntervalSince(start) < 2, "closed at once, not at the timeout")
        }
        await d.stop()
    }

    @Test func liveSocketIsNotStolenButStaleOneIsReplaced() async throws {
        let d = try await TestDaemon()
        var config = DaemonConfiguration(
            dataDirectory: d.dataDirectory, policiesDirectory: d.policiesDirectory, socketPath: d.socketPath,
            keySource: .keyFile(path: d.keyFile))
        config.threads = 1
        let second = config
        await #expect {
            _ = try await Daemon.start(second, logger: .init(label: "second"))
        } throws: { e in
            "\(e)".contains("in use")
        }
        try await offPool {
            let health = try d.client().health()
            #expect(health.status == "ok")
        }
        await d.stop()
        // A stale socket file (nobody listening) is replaced.
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: Array(d.socketPath.utf8)) }
        _ = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        close(fd)
        let again = try await Daemon.start(config, logger: .init(label: "third"))
        let path = d.socketPath
        try await offPool {
            let health = try LatchkeyClient(socketPath: path).health()
            #expect(health.status == "ok")
        }
        await again.stop()
    }

    @Test func wrongMasterKeyRefusesToStartAndWritesNothing() async throws {
        let d = try await TestDaemon()
        await d.stop()
        let other = d.directory + "/other.key"
        _ = try LatchkeyCrypto.KeyFile.create(path: other)
        let before = try Data(contentsOf: URL(fileURLWithPath: d.dataDirectory + "/latchkey.db"))
        var config = DaemonConfiguration(
            dataDirectory: d.dataDirectory, policiesDirectory: d.policiesDirectory, socketPath: d.socketPath,
            keySource: .keyFile(path: other))
        config.threads = 1
        await #expect {
            _ = try await Daemon.start(config, logger: .init(label: "wrong"))
        } throws: { e in
            (e as? StoreError)?.code == "wrong_master_key"
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: d.dataDirectory + "/latchkey.db")) == before)
        #expect(access(d.socketPath, F_OK) != 0)
    }
}
