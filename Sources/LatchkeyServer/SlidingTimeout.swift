internal import NIOCore

/// A channel's timeout that moves with its activity: `restart` only notes the time, and
/// the one timer, when it fires early, sets itself for the rest — so the timer is not
/// cancelled and set again for every request. `stop` pauses it (a firing timer then
/// lapses, and the next `restart` sets one again). Used only on its channel's event loop.
final class SlidingTimeout: @unchecked Sendable {
    // @unchecked: touched only on the event loop the channel runs on.
    let length: TimeAmount
    private var timer: Scheduled<Void>?
    private var since: NIODeadline?

    init(_ length: Duration) { self.length = TimeAmount(length) }

    /// Whether it is counting (restarted and not stopped since).
    var isRunning: Bool { since != nil }

    /// Counts from now; `expire` runs on `loop` once `length` has passed with no
    /// `restart` or `stop`.
    func restart(on loop: any EventLoop, _ expire: @escaping () -> Void) {
        let now = loop.now
        since = now
        if timer == nil { schedule(on: loop, at: now + length, expire) }
    }

    func stop() { since = nil }

    /// Stops it for good (the channel went away).
    func cancel() {
        since = nil
        timer?.cancel()
        timer = nil
    }

    private func schedule(on loop: any EventLoop, at when: NIODeadline, _ expire: @escaping () -> Void) {
        let bound = NIOLoopBound(expire, eventLoop: loop)
        timer = loop.scheduleTask(deadline: when) { [self] in
            timer = nil
            guard let since else { return }
            let due = since + length
            if loop.now < due { return schedule(on: loop, at: due, bound.value) }
            self.since = nil
            bound.value()
        }
    }
}
