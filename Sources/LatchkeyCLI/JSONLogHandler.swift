import Foundation
import Logging

/// `serve --log-format json`: one JSON object per line on stderr, for log shippers.
///
/// The field names are stable (documented in README.md, "Production"): `time` (UTC,
/// RFC 3339 with milliseconds), `level`, `logger`, `message`, `error` (when the event carries one), then each metadata key as
/// a string field of its own. A metadata key that would overwrite one of these is
/// written as `meta_<key>`. Lines are written with one `write(2)` each, so lines from
/// different threads never interleave.
struct JSONLogHandler: LogHandler {
    static let fixedFields: Set<String> = ["time", "level", "logger", "message", "error"]

    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    private let fd: Int32

    init(label: String, fd: Int32 = STDERR_FILENO) {
        self.label = label
        self.fd = fd
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        var line = "{"
        Self.append(&line, key: "time", value: Self.timestamp())
        line += ","
        Self.append(&line, key: "level", value: event.level.rawValue)
        line += ","
        Self.append(&line, key: "logger", value: label)
        line += ","
        Self.append(&line, key: "message", value: "\(event.message)")
        if let error = event.error {
            line += ","
            Self.append(&line, key: "error", value: "\(error)")
        }
        for key in merged.keys.sorted() {
            line += ","
            Self.append(&line, key: Self.fixedFields.contains(key) ? "meta_" + key : key, value: "\(merged[key]!)")
        }
        line += "}\n"
        var bytes = Array(line.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Foundation.write(fd, $0.baseAddress! + sent, $0.count - sent) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }
            sent += n
        }
    }

    static func append(_ out: inout String, key: String, value: String) {
        out += "\""
        escape(key, into: &out)
        out += "\":\""
        escape(value, into: &out)
        out += "\""
    }

    /// JSON string escaping (RFC 8259 §7): quote, backslash and control characters.
    static func escape(_ s: String, into out: inout String) {
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7f:
                out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
    }

    /// Now as `2026-11-22T10:00:00.123Z`.
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ v: Int32, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(now.tv_nsec / 1_000_000), 3))Z"
    }
}
