import Foundation
import Synchronization

/// Closes the pages of secrets nobody is reading.
///
/// A region read since the previous pass is left open; one untouched for a whole
/// pass goes back to `PROT_NONE`. A secret therefore stays readable at most two
/// passes (`period` each) after its last read, and a key used on every request is
/// not re-protected between requests. The thread starts with the first secret.
final class IdleProtector: Sendable {
    static let shared = IdleProtector(period: .milliseconds(20))

    let period: Duration
    // Lock order: this lock, then a region's own lock (never the other way round),
    // so a region that `forget` returned for is no longer touched by a pass.
    private let open = Mutex<(regions: [ObjectIdentifier: GuardedRegion], running: Bool)>(([:], false))

    init(period: Duration) {
        self.period = period
    }

    func watch(_ region: GuardedRegion) {
        let start = open.withLock { o -> Bool in
            o.regions[ObjectIdentifier(region)] = region
            defer { o.running = true }
            return !o.running
        }
        if start {
            let thread = Thread { [self] in
                while true {
                    Thread.sleep(forTimeInterval: Double(period.components.attoseconds) / 1e18 + Double(period.components.seconds))
                    pass()
                }
            }
            thread.name = "latchkey-idle-protector"
            thread.start()
        }
    }

    func forget(_ region: GuardedRegion) {
        _ = open.withLock { $0.regions.removeValue(forKey: ObjectIdentifier(region)) }
    }

    /// One pass; returns how many regions are still open.
    @discardableResult
    func pass() -> Int {
        open.withLock { o in
            o.regions = o.regions.filter { !$0.value.closeIfIdle() }
            return o.regions.count
        }
    }

    var openCount: Int { open.withLock { $0.regions.count } }
}
