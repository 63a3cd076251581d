import Foundation
import LatchkeyClient
import LatchkeyCrypto
import Testing

/// Hostile and heavy clients against a real `latchkey serve`: a thousand connections
/// redeeming at once, two hundred clients trickling a byte a second, requests over every
/// limit and malformed in every way a parser meets, and a client that never reads. A
/// well-behaved build keeps being answered throughout (its latency is measured), the
/// daemon's descriptors and memory stay bounded, each refused connection is logged once,
/// and the store is as it was.
@Suite(.serialized) struct HostileClientTests {
    static let connections = Reliability.pick(quick: 1_000, full: 2_000)
    static let slowClients = 200

    @Test func theDaemonKeepsAnsweringWellBehavedClientsUnderAttack() throws {
        // Every connection here is one uid's: lift the per-uid cap (256) above them all.
        let d = try DaemonProcess(serveArguments: ["--max-connections-per-uid", "4096"])
        #expect(d.cli(["connection", "add", "ghe", "--kind", "github-enterprise", "--url", "https://ghe.example.com"]).status == 0)
        #expect(d.cli(["project", "add", "web", "--connection", "ghe", "--repo", "acme/web"]).status == 0)
        let secret = "ghp_hostile" + Hex.encode(randomBytes(15))
        #expect(d.cli(["token", "put", "ghe", "--no-verify", "--username", "ci-bot"], stdin: secret + "\n").status == 0)
        let open = d.cli(["session", "open", "web", "--build", "hostile", "--grant", "token", "--uses", "100000", "--json"])
        let session = try #require(try JSONSerialization.jsonObject(with: Data(open.out.utf8)) as? [String: Any])
        let token = try #require(session["token"] as? String)
        let projectsBefore = d.cli(["project", "list", "--json"]).out
        let baselineDescriptors = ProcessSampler.descriptors(d.pid)
        let sampler = ProcessSampler(pid: d.pid)

        // A well-behaved build redeeming its session the whole time.
        let good = LatencyRecorder()
        let stopGood = Flag()
        let goodDone = DispatchSemaphore(value: 0)
        let socket = d.socket
        Thread {
            defer { goodDone.signal() }
            while !stopGood.isSet {
                guard let conn = try? UnixHTTPConnection(path: socket) else { good.fail(); usleep(10_000); continue }
                for _ in 0..<50 where !stopGood.isSet {
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    guard let a = try? conn.send(method: "GET", path: "/v1/session/token", headers: [("Authorization", "Bearer \(token)")]),
                        a.status == 200
                    else { good.fail(); break }
                    good.add(Int((DispatchTime.now().uptimeNanoseconds - t0) / 1_000))
                    usleep(2_000)
                }
            }
        }.start()

        // Two hundred slow clients, one byte a second each, until the daemon cuts them off.
        var slow = (0..<Self.slowClients).compactMap { _ in RawConnection(path: socket) }
        #expect(slow.count == Self.slowClients)
        let trickle = Array("GET /v1/health HTTP/1.1\r\nHost: latchkey\r\nX-Slow: ".utf8) + [UInt8](repeating: 0x61, count: 64)
        let slowDone = DispatchSemaphore(value: 0)
        let slowCutOff = AtomicTally()
        let trickling = slow
        Thread {
            defer { slowDone.signal() }
            let slow = trickling
            var open = Array(slow.indices)
            for byte in trickle where !open.isEmpty {
                open = open.filter { slow[$0].send([byte]) }
                sleep(1)
            }
            for i in slow.indices where slow[i].closedByPeer(timeout: 1) { slowCutOff.add() }
        }.start()

        // A thousand connections redeeming at once: all connected, all sending, then all read.
        var many = (0..<Self.connections).compactMap { _ in RawConnection(path: socket) }
        #expect(many.count == Self.connections, "\(many.count) of \(Self.connections) connections accepted")
        let redeem = "GET /v1/session/token HTTP/1.1\r\nHost: latchkey\r\nAuthorization: Bearer \(token)\r\n\r\n"
        var released = 0
        for round in 0..<2 {
            for c in many { c.send(redeem) }
            for c in many {
                if let r = c.readResponse(), r.status == 200, r.body.contains(secret) { released += 1 }
            }
            if round == 0 { #expect(ProcessSampler.descriptors(d.pid) >= Self.connections, "all connections held open at once") }
        }
        #expect(released == 2 * Self.connections, "every one of \(many.count) connections redeemed twice")

        // Requests over every limit and malformed in every way: each is answered 4xx.
        let hostile = Self.hostileRequests(token: token)
        var answered4xx = 0
        for (name, bytes) in hostile {
            guard let c = RawConnection(path: socket) else { Issue.record("cannot connect for \(name)"); continue }
            c.send(bytes)
            let r = c.readResponse()
            if let r, (400..<500).contains(r.status), r.body.contains("\"error\"") {
                answered4xx += 1
            } else {
                Issue.record("\(name): expected a 4xx JSON error, got \(r.map { "\($0.status) \($0.body)" } ?? "no answer")")
            }
            #expect(!(r?.body.contains(secret) ?? false))
        }

        // A client that pipelines requests and never reads its answers.
        var deaf = RawConnection(path: socket)
        let deafFD = try #require(deaf?.fd)
        _ = fcntl(deafFD, F_SETFL, fcntl(deafFD, F_GETFL) | O_NONBLOCK)
        let pipelined = Array(String(repeating: "GET /v1/health HTTP/1.1\r\nHost: latchkey\r\n\r\n", count: 200).utf8)
        var deafBytes = 0
        let deafUntil = DispatchTime.now().uptimeNanoseconds + 3_000_000_000
        while DispatchTime.now().uptimeNanoseconds < deafUntil {
            let n = pipelined.withUnsafeBytes { Foundation.send(deafFD, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 { deafBytes += n } else { usleep(20_000) }
        }

        slowDone.wait()
        stopGood.set()
        goodDone.wait()
        sampler.stop()
        // The clients hang up.
        many = []
        slow = []
        deaf = nil

        #expect(slowCutOff.value == Self.slowClients, "every slow client was cut off by the request timeout")
        #expect(good.failures == 0, "the well-behaved build was answered every time")
        // The promise is that the build is answered, every time, while the attack goes on; its
        // latency is a figure for `latchkey bench` / scripts/reliability, not a unit-test bound
        // (on this 2-core machine it moves from ~1 s to over ten with the machine's load). The
        // ceiling below only tells a starved build from a slow one: a minute without an answer.
        #expect(good.count > 10)
        #expect(good.percentile(0.99) < 60_000_000, "p99 of the well-behaved build under attack: \(good.percentile(0.99)) µs")
        #expect(sampler.peakDescriptors < baselineDescriptors + Self.connections + Self.slowClients + 64)
        #expect(sampler.peakResidentKiB < 256 * 1024, "daemon RSS peaked at \(sampler.peakResidentKiB) KiB")
        // Descriptors come back once the clients are gone (a loaded machine takes its time
        // to run the closes: up to a minute).
        var after = 0
        for _ in 0..<1_200 {
            after = ProcessSampler.descriptors(d.pid)
            if after <= baselineDescriptors + 2 { break }
            usleep(50_000)
        }
        #expect(after <= baselineDescriptors + 2, "descriptors back to \(after) (\(baselineDescriptors) before)")
        // One log line per refused connection, not one per byte.
        let log = d.log
        let timeouts = log.components(separatedBy: "code=request_timeout").count - 1
        #expect(timeouts == Self.slowClients, "\(timeouts) request-timeout lines for \(Self.slowClients) slow clients")
        let refusals = log.components(separatedBy: "request refused").count - 1
        #expect(refusals <= Self.slowClients + hostile.count, "\(refusals) refusal lines for \(Self.slowClients + hostile.count) refused clients")
        #expect(!log.contains(secret) && !log.contains(token))
        #expect(d.cli(["project", "list", "--json"]).out == projectsBefore, "no hostile request changed the store")
        print("hostile clients: \(Self.connections) connections held and redeemed twice, \(Self.slowClients) slow clients cut off, "
            + "\(answered4xx) of \(hostile.count) hostile requests refused 4xx, \(deafBytes) bytes from a client that never reads; "
            + "well-behaved build \(good.count) releases, p50 \(good.percentile(0.5)) µs, p99 \(good.percentile(0.99)) µs, "
            + "failures \(good.failures); daemon peak \(sampler.peakDescriptors) descriptors, \(sampler.peakResidentKiB / 1024) MiB RSS")
        d.stop()
    }

    /// Each request a parser must refuse, by what is wrong with it.
    static func hostileRequests(token: String) -> [(String, [UInt8])] {
        func post(_ path: String, _ body: [UInt8], headers: String = "") -> [UInt8] {
            Array("POST \(path) HTTP/1.1\r\nHost: latchkey\r\nContent-Type: application/json\r\n\(headers)Content-Length: \(body.count)\r\n\r\n".utf8) + body
        }
        func post(_ path: String, _ body: String) -> [UInt8] { post(path, Array(body.utf8)) }
        func get(_ path: String, headers: String = "") -> [UInt8] {
            Array("GET \(path) HTTP/1.1\r\nHost: latchkey\r\n\(headers)\r\n".utf8)
        }
        let big = [UInt8](repeating: 0x61, count: 70_000)
        let manyHeaders = (0..<100).map { "X-H\($0): v\r\n" }.joined()
        return [
            ("body over the limit", post("/v1/projects", big)),
            ("declared body over the limit", Array("POST /v1/projects HTTP/1.1\r\nHost: l\r\nContent-Length: 999999999\r\n\r\n".utf8)),
            ("chunked body over the limit", Array("POST /v1/projects HTTP/1.1\r\nHost: l\r\nTransfer-Encoding: chunked\r\n\r\n11170\r\n".utf8) + big + Array("\r\n0\r\n\r\n".utf8)),
            ("one header over the limit", get("/v1/health", headers: "X-Pad: \(String(repeating: "p", count: 20_000))\r\n")),
            ("too many headers", get("/v1/health", headers: manyHeaders)),
            ("not HTTP", Array("HELLO THERE\r\n\r\n".utf8)),
            ("negative content length", Array("POST /v1/projects HTTP/1.1\r\nHost: l\r\nContent-Length: -5\r\n\r\n".utf8)),
            ("malformed JSON", post("/v1/projects", #"{"name": "x", "connection": "#)),
            ("JSON that is not an object", post("/v1/projects", #"[1, 2, 3]"#)),
            ("invalid UTF-8 in a name", post("/v1/projects", Array(#"{"name":""#.utf8) + [0xff, 0xfe, 0xc0] + Array(#"","connection":"ghe","repo":"a/b"}"#.utf8))),
            ("wrong types", post("/v1/projects", #"{"name": 5, "connection": [], "repo": {}}"#)),
            ("missing fields", post("/v1/projects", "{}")),
            ("huge number", post("/v1/sessions", #"{"project":"web","build":"b","grants":["token"],"uses":1e400}"#)),
            ("number over Int64", post("/v1/sessions", #"{"project":"web","build":"b","grants":["token"],"ttlSeconds":99999999999999999999999}"#)),
            ("negative uses", post("/v1/sessions", #"{"project":"web","build":"b","grants":["token"],"uses":-1}"#)),
            ("path traversal in a name", post("/v1/projects", #"{"name":"../../etc","connection":"ghe","repo":"acme/x"}"#)),
            ("slash in a name", post("/v1/projects", #"{"name":"a/b","connection":"ghe","repo":"acme/x"}"#)),
            ("NUL in a name", post("/v1/projects", #"{"name":"a\u0000b","connection":"ghe","repo":"acme/x"}"#)),
            ("name of 10,000 characters", post("/v1/projects", #"{"name":"\#(String(repeating: "n", count: 10_000))","connection":"ghe","repo":"acme/x"}"#)),
            ("traversal in the path", get("/v1/projects/..%2F..%2Fetc%2Fpasswd")),
            ("NUL in the path", get("/v1/projects/a%00b")),
            ("unknown key type", post("/v1/projects/web/deploy-keys", #"{"type":"dsa-1024"}"#)),
            ("sealed token not base64", post("/v1/connections/ghe/tokens", #"{"username":"ci","sealedToken":"***not base64***"}"#)),
            ("sealed token of noise", post("/v1/connections/ghe/tokens", #"{"username":"ci","sealedToken":"\#(Data(randomBytes(80)).base64EncodedString())"}"#)),
            ("bearer token of 8 KiB", get("/v1/session/token", headers: "Authorization: Bearer lks_\(String(repeating: "A", count: 8_000))\r\n")),
            ("bearer token one character off", get("/v1/session/token", headers: "Authorization: Bearer \(String(token.dropLast()))\(token.last == "A" ? "B" : "A")\r\n")),
            ("unknown route", get("/v1/../../etc/passwd")),
        ]
    }
}

final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}

final class AtomicTally: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    var value: Int { lock.withLock { n } }
    func add() { lock.withLock { n += 1 } }
}
