import Foundation
import LatchkeyStore
import Synchronization
import Testing

/// The threads the async store calls run on: every call answered with its own result or
/// error, no more workers than the bound, and idle ones gone.
@Suite struct StoreWorkersTests {
    @Test func manyConcurrentAsyncReadsAndWritesEachGetTheirOwnAnswer() async throws {
        let dir = makeTempDirectory("workers")
        let store = try Store(directory: dir, create: true)
        try await store.database.write { db in try db.execute(sql: "CREATE TABLE n(v INTEGER NOT NULL UNIQUE) STRICT") }
        let database = store.database
        let results = try await withThrowingTaskGroup(of: (Int, Int?).self) { group in
            for i in 0..<200 {
                group.addTask {
                    if i % 2 == 0 {
                        try await database.write { db in try db.execute(sql: "INSERT INTO n(v) VALUES (?)", arguments: [i]) }
                        return (i, i)
                    }
                    return (i, try await database.read { db in try Int.fetchOne(db, sql: "SELECT ? + 0", arguments: [i]) })
                }
            }
            var all: [Int: Int?] = [:]
            for try await (i, v) in group { all[i] = v }
            return all
        }
        #expect(results.count == 200)
        #expect(results.allSatisfy { $0.key == $0.value })
        #expect(try await store.database.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM n") } == 100)
    }

    @Test func aFailingAsyncWriteThrowsTheStoresErrorAndChangesNothing() async throws {
        let dir = makeTempDirectory("workers")
        let store = try Store(directory: dir, create: true)
        try await store.database.write { db in try db.execute(sql: "CREATE TABLE n(v INTEGER NOT NULL UNIQUE) STRICT") }
        try await store.database.write { db in try db.execute(sql: "INSERT INTO n(v) VALUES (1)") }
        await #expect(throws: SQLError.self) {
            try await store.database.write { db in
                try db.execute(sql: "INSERT INTO n(v) VALUES (2)")
                try db.execute(sql: "INSERT INTO n(v) VALUES (1)")
            }
        }
        #expect(try await store.database.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM n") } == 1)
    }

    @Test func noMoreWorkersRunThanTheBoundAndIdleOnesEnd() async throws {
        let workers = StoreWorkers(maxThreads: 3, idleExitSeconds: 0.2)
        let gauge = Gauge()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<24 {
                group.addTask {
                    try await workers.run {
                        gauge.enter()
                        usleep(10_000)
                        gauge.leave()
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(gauge.most <= 3)
        #expect(workers.threadCount <= 3)
        let deadline = ContinuousClock.now + .seconds(10)
        while workers.threadCount > 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(workers.threadCount == 0)
        // A call after every worker ended starts one again.
        #expect(try await workers.run { 42 } == 42)
    }
}

/// How many jobs run at once, and the most that ever did.
private final class Gauge: Sendable {
    private let state = Mutex<(now: Int, most: Int)>((0, 0))
    func enter() { state.withLock { $0.now += 1; $0.most = max($0.most, $0.now) } }
    func leave() { state.withLock { $0.now -= 1 } }
    var most: Int { state.withLock { $0.most } }
}
