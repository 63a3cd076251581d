import Foundation
import Testing

@testable import LatchkeyCore

/// Admin and runner requests re-check that the process that connected is still there with
/// its uid and gid (#16 finding 12), from `/proc/PID/status`, on every request. The parser
/// reads the kernel's text as bytes; these hold it to the format and to hostile text.
@Suite struct PeerStatusTests {
    static func shows(_ text: String, uid: UInt32 = 1000, gid: UInt32 = 1000) -> Bool {
        Array(text.utf8).withUnsafeBufferPointer { PeerCredentials.statusShowsConnector($0, uid: uid, gid: gid) }
    }

    /// The lines as Linux 6.x writes them (fs/proc/array.c): tab after the key, four ids.
    static let running = """
        Name:\tbuild
        Umask:\t0022
        State:\tS (sleeping)
        Tgid:\t4242
        Pid:\t4242
        PPid:\t1
        Uid:\t1000\t1000\t1000\t1000
        Gid:\t1000\t1000\t1000\t1000
        Groups:\t27 1000

        """

    @Test func aLiveProcessWithItsEffectiveIdsPasses() {
        #expect(Self.shows(Self.running))
    }

    @Test func theEffectiveIdIsTheOneCompared() {
        // setuid: real 1000, effective 0; SO_PEERCRED carries the effective ids.
        let setuid = Self.running.replacingOccurrences(of: "Uid:\t1000\t1000", with: "Uid:\t1000\t0")
        #expect(!Self.shows(setuid))
        #expect(Self.shows(setuid.replacingOccurrences(of: "Gid:\t1000\t1000", with: "Gid:\t1000\t0"), uid: 0, gid: 0))
    }

    @Test func anExitedProcessFails() {
        #expect(!Self.shows(Self.running.replacingOccurrences(of: "State:\tS (sleeping)", with: "State:\tZ (zombie)")))
    }

    @Test func anotherGidFails() {
        #expect(!Self.shows(Self.running, uid: 1000, gid: 1001))
        #expect(!Self.shows(Self.running, uid: 1001, gid: 1000))
    }

    @Test func hostileOrDamagedTextFails() {
        for text in [
            "", "\n\n", "Uid:\t1000\t1000\n",  // no Gid line
            "Gid:\t1000\t1000\n",  // no Uid line
            "Uid:\t1000\nGid:\t1000\n",  // one id only
            "Uidx:\t1000\t1000\nGidx:\t1000\t1000\n",  // keys that only start like the real ones
            "Uid:1000\t1000\nGid:1000\t1000\n",  // no separator after the key
            "Uid:\t1000\t+1000\nGid:\t1000\t1000\n",  // signs are not digits
            "Uid:\t1000\t4294968296\nGid:\t1000\t1000\n",  // overflow that wraps to 1000
            "Uid:\t1000\t00000000001000\nGid:\t1000\t1000\n",  // longer than any uid
            "Uid:\t1000\t10x0\nGid:\t1000\t1000\n",
        ] {
            #expect(!Self.shows(text), "\(text.debugDescription)")
        }
    }

    @Test func spacesAndALastLineWithoutNewlineParse() {
        #expect(Self.shows("State: R (running)\nUid:  1000 1000 1000 1000\nGid: 1000 1000 1000 1000"))
    }

    @Test func thisProcessIsItsOwnConnector() {
        let me = PeerCredentials(pid: getpid(), uid: geteuid(), gid: getegid())
        #expect(me.connectorIsUnchanged)
        #expect(!PeerCredentials(pid: getpid(), uid: geteuid() &+ 1, gid: getegid()).connectorIsUnchanged)
        #expect(!PeerCredentials(pid: Int32.max, uid: geteuid(), gid: getegid()).connectorIsUnchanged)  // no such process
    }
}
