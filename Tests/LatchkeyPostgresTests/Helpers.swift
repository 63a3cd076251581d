import Foundation
import LatchkeyTestSupport

func makeTempDirectory(_ tag: String) -> String {
    let d = NSTemporaryDirectory() + "lk-\(tag)-\(UUID().uuidString.prefix(8))"
    mkdir(d, 0o700)
    return d
}

/// Runs the sqlite3 tool on a store file; its status and output.
func sqlite(_ db: String, _ sql: String) -> (status: Int32, output: String) {
    let r = runCaptured(["sqlite3", db, sql])
    return (r.status, String(decoding: r.out + r.err, as: UTF8.self))
}
