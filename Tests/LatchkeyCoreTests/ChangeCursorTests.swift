@testable import LatchkeyCore
import LatchkeyStore
import Testing

/// The follower's place in the `changes` feed: every change taken once, a change that
/// commits after a later one still taken, a gap that never fills given up on in time.
@Suite struct ChangeCursorTests {
    private func changes(_ ids: [Int64]) -> [StoreChange] { ids.map { StoreChange(id: $0, what: .session, ref: "s\($0)") } }

    @Test func contiguousChangesAreTakenOnceAndTheFloorFollows() {
        var c = ChangeCursor(after: 10)
        #expect(c.take(changes([11, 12])).map(\.id) == [11, 12])
        #expect(c.floor == 12)
        #expect(c.take(changes([])).isEmpty)
        #expect(c.take(changes([13])).map(\.id) == [13] && c.floor == 13)
    }

    @Test func aChangeThatCommitsAfterALaterOneIsStillTaken() {
        var c = ChangeCursor(after: 0)
        let start = ContinuousClock.now
        #expect(c.take(changes([1, 3]), now: start).map(\.id) == [1, 3])
        #expect(c.floor == 1, "2 is not visible yet: the floor waits below it")
        // The next read (from the floor) sees 3 again and 2 at last: only 2 is new.
        #expect(c.take(changes([2, 3]), now: start + .seconds(1)).map(\.id) == [2])
        #expect(c.floor == 3)
    }

    @Test func aGapThatNeverFillsIsGivenUpOnAfterItsPatience() {
        var c = ChangeCursor(after: 0)
        let start = ContinuousClock.now
        #expect(c.take(changes([2, 3]), now: start).map(\.id) == [2, 3])
        #expect(c.floor == 0)
        #expect(c.take(changes([2, 3]), now: start + .seconds(10)).isEmpty)
        #expect(c.floor == 0, "still waiting for 1")
        #expect(c.take(changes([2, 3]), now: start + ChangeCursor.gapPatience).isEmpty)
        #expect(c.floor == 3, "1 rolled back: given up on, and nothing is taken twice")
        #expect(c.take(changes([4]), now: start + ChangeCursor.gapPatience).map(\.id) == [4] && c.floor == 4)
    }

    @Test func aSecretVersionChangeNamesItsVersion() {
        let v = StoreChange(id: 1, what: .secretVersion, ref: "deploy-key project:web 3").secretVersion
        #expect(v?.kind == .deployKey && v?.owner == "project:web" && v?.version == 3)
        #expect(StoreChange(id: 1, what: .secretVersion, ref: "bogus project:web 3").secretVersion == nil)
        #expect(StoreChange(id: 1, what: .project, ref: "deploy-key project:web 3").secretVersion == nil)
    }
}
