import LatchkeyTestSupport
import Foundation

/// Runs a real tool and returns its status and output (stdout and stderr apart).
@discardableResult
func run(_ tool: String, _ args: [String], stdin: String? = nil, environment: [String: String]? = nil) -> (status: Int32, out: String, err: String) {
    let r = runCaptured([tool] + args, stdin: stdin.map { Data($0.utf8) }, environment: environment)
    return (r.status, String(decoding: r.out, as: UTF8.self), String(decoding: r.err, as: UTF8.self))
}

/// `curl --unix-socket` as another Unix user (through setpriv), returning status and body.
func curl(_ socket: String, _ method: String, _ path: String, body: String? = nil, bearer: String? = nil, uid: UInt32? = nil)
    -> (status: Int, body: String)
{
    var args = ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "--unix-socket", socket, "-X", method]
    if let body { args += ["-H", "Content-Type: application/json", "--data-binary", "@-"] }
    if let bearer { args += ["-H", "Authorization: Bearer \(bearer)"] }
    args.append("http://localhost\(path)")
    if let uid { args = ["setpriv", "--reuid=\(uid)", "--regid=\(uid)", "--clear-groups"] + args }
    let r = run(args[0], Array(args.dropFirst()), stdin: body)
    let lines = r.out.split(separator: "\n", omittingEmptySubsequences: false)
    return (Int(lines.last ?? "") ?? -1, lines.dropLast().joined(separator: "\n"))
}

func json(_ text: String) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
}

func jsonArray(_ text: String) -> [[String: Any]] {
    (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [[String: Any]] ?? []
}

/// Every file under `dir` (the store, its WAL, logs) searched for `needle` as raw bytes.
func filesContaining(_ needle: String, under dir: String) -> [String] {
    let bytes = Data(needle.utf8)
    var hits: [String] = []
    let e = FileManager.default.enumerator(atPath: dir)
    while let rel = e?.nextObject() as? String {
        let path = dir + "/" + rel
        if let d = FileManager.default.contents(atPath: path), d.range(of: bytes) != nil { hits.append(path) }
    }
    return hits
}
