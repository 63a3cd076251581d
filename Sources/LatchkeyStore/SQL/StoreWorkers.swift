import Foundation

/// The threads the async forms of `StoreDatabase.read` and `write` run their blocking
/// database calls on: threads of the store's own, never Swift's cooperative pool or
/// Dispatch's global queues.
///
/// A database call blocks its thread (on SQLite's writer, a reader slot, the busy timeout,
/// a PostgreSQL round trip). Blocked on a cooperative thread, or on one of Dispatch's
/// global threads (which Swift's tasks share on Linux), it would hold one of the few that
/// every request's task needs. Here a call is one job on a queue under one lock: a free
/// worker takes it, or a new one is started (up to `maxThreads`); a worker idle for
/// `idleExit` seconds ends.
package final class StoreWorkers: @unchecked Sendable {
    // @unchecked: `jobs`, `threads` and `idle` are touched only under `condition`.
    package static let shared = StoreWorkers(maxThreads: 32)

    private let maxThreads: Int
    private let idleExit: Double
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []
    private var nextJob = 0
    private var threads = 0
    private var idle = 0

    package init(maxThreads: Int, idleExitSeconds idleExit: Double = 30) {
        self.maxThreads = max(1, maxThreads)
        self.idleExit = idleExit
    }

    /// Runs `body` on a worker and returns its result.
    package func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            submit { continuation.resume(with: Result { try body() }) }
        }
    }

    /// Workers alive now (for tests of the bound).
    package var threadCount: Int { condition.withLock { threads } }

    private func submit(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        jobs.append(job)
        // Every queued job has a worker that will take it: an idle one woken here, or one
        // started for it.
        if jobs.count - nextJob > idle && threads < maxThreads {
            threads += 1
            let thread = Thread { [self] in work() }
            thread.start()
        }
        condition.signal()
        condition.unlock()
    }

    private func work() {
        condition.lock()
        while true {
            while nextJob == jobs.count {
                idle += 1
                let woken = condition.wait(until: Date().addingTimeInterval(idleExit))
                idle -= 1
                if !woken && nextJob == jobs.count {
                    threads -= 1
                    condition.unlock()
                    return
                }
            }
            let job = jobs[nextJob]
            nextJob += 1
            if nextJob == jobs.count {
                jobs.removeAll(keepingCapacity: true)
                nextJob = 0
            } else if nextJob >= 1024 {
                jobs.removeFirst(nextJob)
                nextJob = 0
            }
            condition.unlock()
            job()
            condition.lock()
        }
    }
}
