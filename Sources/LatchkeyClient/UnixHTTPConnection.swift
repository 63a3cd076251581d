import Foundation

/// One blocking HTTP/1.1 keep-alive connection over a Unix domain socket.
public final class UnixHTTPConnection {
    public let path: String
    private var fd: Int32 = -1
    private var buffer: [UInt8] = []
    /// Largest answer accepted (headers + body) unless a call asks for more.
    static let maxResponseBytes = 16 * 1024 * 1024
    /// The limit in force for the next answer (`LatchkeyClient.download` raises it).
    var responseLimit = UnixHTTPConnection.maxResponseBytes

    public init(path: String) throws {
        self.path = path
        try connect()
    }

    deinit { if fd >= 0 { close(fd) } }

    private func connect() throws {
        // SOCK_CLOEXEC: a connected socket carries its connector's identity (the daemon reads
        // SO_PEERCRED once, at connect); a child the caller runs must not inherit it.
        let s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { throw ClientError.unreachable(path: path, reason: String(cString: strerror(errno))) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            close(s)
            throw ClientError.unreachable(path: path, reason: "socket path is too long")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes) }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(s, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            let reason = String(cString: strerror(errno))
            close(s)
            throw ClientError.unreachable(path: path, reason: reason)
        }
        fd = s
        buffer.removeAll(keepingCapacity: true)
    }

    public struct Answer: Sendable {
        public var status: Int
        public var headers: [(String, String)]
        public var body: [UInt8]

        public func header(_ name: String) -> String? {
            headers.first { $0.0.caseInsensitiveCompare(name) == .orderedSame }?.1
        }
    }

    /// Sends one request and reads its answer. Reconnects once if the daemon closed an
    /// idle keep-alive connection before the request was written.
    /// Like `send`, but a 2xx body is handed to `sink` as it arrives (chunked or not),
    /// held only a chunk at a time: for answers of any size (an audit export).
    public func stream(
        method: String, path target: String, headers: [(String, String)] = [], sink: ([UInt8]) throws -> Void
    ) throws -> Answer {
        var head = "\(method) \(target) HTTP/1.1\r\nHost: latchkey\r\nContent-Length: 0\r\n"
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        head += "\r\n"
        do {
            try writeAll(Array(head.utf8))
        } catch ClientError.protocolError(let m) where m == "connection closed" {
            close(fd)
            fd = -1
            try connect()
            try writeAll(Array(head.utf8))
        }
        return try withoutActuallyEscaping(sink) { try readAnswer(sink: $0) }
    }

    public func send(method: String, path target: String, headers: [(String, String)] = [], body: [UInt8] = []) throws -> Answer {
        var head = "\(method) \(target) HTTP/1.1\r\nHost: latchkey\r\nContent-Length: \(body.count)\r\n"
        if !body.isEmpty { head += "Content-Type: application/json\r\n" }
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        head += "\r\n"
        var request = Array(head.utf8)
        request += body
        defer { wipe(&request) }
        do {
            try writeAll(request)
            return try readAnswer()
        } catch ClientError.protocolError(let m) where m == "connection closed" {
            close(fd)
            fd = -1
            try connect()
            try writeAll(request)
            return try readAnswer()
        }
    }

    private func writeAll(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EPIPE || errno == ECONNRESET { throw ClientError.protocolError("connection closed") }
                throw ClientError.unreachable(path: path, reason: String(cString: strerror(errno)))
            }
            sent += n
        }
    }

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if n > 0 {
                buffer += chunk[0..<n]
                wipe(&chunk)
                guard buffer.count <= responseLimit else { throw ClientError.protocolError("answer too large") }
                return
            }
            if n == 0 { throw ClientError.protocolError("connection closed") }
            if errno == EINTR { continue }
            throw ClientError.protocolError("connection closed")
        }
    }

    /// Reads one answer. With `sink`, a 2xx body goes to it piece by piece (the answer's
    /// `body` stays empty); otherwise the body is collected (at most `maxResponseBytes`).
    private func readAnswer(sink: (([UInt8]) throws -> Void)? = nil) throws -> Answer {
        var headerEnd: Int?
        while headerEnd == nil {
            headerEnd = Self.find(buffer, [13, 10, 13, 10])
            if headerEnd == nil { try fill() }
        }
        let headText = String(decoding: buffer[0..<headerEnd!], as: UTF8.self)
        var lines = headText.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, statusLine[0].hasPrefix("HTTP/1."), let status = Int(statusLine[1]) else {
            throw ClientError.protocolError("bad status line")
        }
        var headers: [(String, String)] = []
        var length = 0
        var chunked = false
        var closeAfter = false
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = String(line[..<colon])
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            headers.append((name, value))
            if name.lowercased() == "content-length" {
                guard let l = Int(value), l >= 0, l <= responseLimit else { throw ClientError.protocolError("bad content-length") }
                length = l
            }
            if name.lowercased() == "connection", value.lowercased() == "close" { closeAfter = true }
            if name.lowercased() == "transfer-encoding", value.lowercased() == "chunked" { chunked = true }
        }
        if chunked {
            buffer.removeFirst(headerEnd! + 4)
            var body: [UInt8] = []
            let deliver: ([UInt8]) throws -> Void = { piece in
                if let sink, (200..<300).contains(status) { return try sink(piece) }
                body += piece
                guard body.count <= Self.maxResponseBytes else { throw ClientError.protocolError("answer too large") }
            }
            try readChunks(deliver)
            if closeAfter {
                close(fd)
                try? connect()
            }
            return Answer(status: status, headers: headers, body: body)
        }
        let bodyStart = headerEnd! + 4
        while buffer.count < bodyStart + length { try fill() }
        let body = Array(buffer[bodyStart..<(bodyStart + length)])
        buffer.withUnsafeMutableBytes { raw in
            for i in 0..<(bodyStart + length) { raw[i] = 0 }
        }
        buffer.removeFirst(bodyStart + length)
        if closeAfter {
            close(fd)
            try? connect()
        }
        return Answer(status: status, headers: headers, body: body)
    }

    /// A chunked body: `size-in-hex CRLF bytes CRLF` … `0 CRLF CRLF` (no trailers are sent).
    private func readChunks(_ deliver: ([UInt8]) throws -> Void) throws {
        while true {
            var lineEnd = Self.find(buffer, [13, 10])
            while lineEnd == nil {
                guard buffer.count < 64 else { throw ClientError.protocolError("bad chunk size line") }
                try fill()
                lineEnd = Self.find(buffer, [13, 10])
            }
            let sizeText = String(decoding: buffer[0..<lineEnd!], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16), size >= 0, size <= Self.maxResponseBytes else {
                throw ClientError.protocolError("bad chunk size")
            }
            buffer.removeFirst(lineEnd! + 2)
            while buffer.count < size + 2 { try fill() }
            guard buffer[size] == 13, buffer[size + 1] == 10 else { throw ClientError.protocolError("bad chunk end") }
            if size == 0 {
                buffer.removeFirst(2)
                return
            }
            try deliver(Array(buffer[0..<size]))
            buffer.removeFirst(size + 2)
        }
    }

    static func find(_ hay: [UInt8], _ needle: [UInt8]) -> Int? {
        guard hay.count >= needle.count else { return nil }
        var i = 0
        while i <= hay.count - needle.count {
            if hay[i] == needle[0] && Array(hay[i..<(i + needle.count)]) == needle { return i }
            i += 1
        }
        return nil
    }
}

/// Zeroes a transient byte array (request bodies may carry sealed tokens or secrets).
func wipe(_ bytes: inout [UInt8]) {
    bytes.withUnsafeMutableBytes { raw in
        for i in raw.indices { raw[i] = 0 }
    }
}
