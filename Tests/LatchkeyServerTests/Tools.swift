import Foundation

/// Runs a real tool and returns its status and output (stdout and stderr apart).
@discardableResult
func run(_ tool: String, _ args: [String], stdin: String? = nil, environment: [String: String]? = nil) -> (status: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: tool.hasPrefix("/") ? tool : "/usr/bin/env")
    p.arguments = tool.hasPrefix("/") ? args : [tool] + args
    if let environment { p.environment = environment }
    let out = Pipe()
    let err = Pipe()
    let inp = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = inp
    do { try p.run() } catch { return (127, "", "\(error)") }
    if let stdin { inp.fileHandleForWriting.write(Data(stdin.utf8)) }
    try? inp.fileHandleForWriting.close()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
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
