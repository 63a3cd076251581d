import Foundation
import LatchkeyFuzz
import Testing

/// Every input of the committed fuzz corpus (seeds, and every input that ever crashed a
/// target, kept as a regression test) runs through its target without a crash.
@Suite struct CorpusReplayTests {
    static let corpus = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/corpus").path

    @Test(arguments: FuzzTarget.all.map(\.name))
    func everyCorpusInputRunsClean(_ name: String) async throws {
        let target = try #require(FuzzTarget.named(name))
        let dir = Self.corpus + "/" + name
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        #expect(files.count >= 3, "a seed corpus for \(name)")
        FuzzTarget.daemonAnswerTimeoutSeconds = 300
        let inputs = try files.map { Array(try #require(FileManager.default.contents(atPath: dir + "/" + $0))) }
        // On a thread of its own, as under libFuzzer: the http target waits on a socket for
        // a daemon whose tasks need the cooperative pool this test would otherwise block.
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread {
                for input in inputs { target.run(input) }
                done.resume()
            }.start()
        }
    }
}
