/// A client's shared state: the in-flight slots and a rate-limit pause. An actor, so
/// that waiting for a slot or for the pause to pass suspends instead of blocking.
actor SCMClientState {
    private let maxInFlight: Int
    private var inFlight = 0
    private var waiters: [CheckedContinuation<Void, Never>] = []
    /// When the server last said its rate limit is spent: no request before this.
    private var pausedUntil: ContinuousClock.Instant?

    init(maxInFlight: Int) { self.maxInFlight = max(1, maxInFlight) }

    func acquire() async {
        if inFlight < maxInFlight {
            inFlight += 1
            return
        }
        await withCheckedContinuation { waiters.append($0) }
        // The releaser handed its slot over: `inFlight` already counts this request.
    }

    func release() {
        if waiters.isEmpty {
            inFlight -= 1
        } else {
            waiters.removeFirst().resume()
        }
    }

    func pause(until instant: ContinuousClock.Instant) {
        if let p = pausedUntil, p >= instant { return }
        pausedUntil = instant
    }

    /// How long to wait before the next request may go, or nil.
    func pauseRemaining() -> Duration? {
        guard let p = pausedUntil else { return nil }
        let left = p - .now
        if left <= .zero {
            pausedUntil = nil
            return nil
        }
        return left
    }

    /// Requests in flight now (for tests of the bound).
    var current: Int { inFlight }
}
