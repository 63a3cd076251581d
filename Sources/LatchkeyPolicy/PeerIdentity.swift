/// A peer as the kernel names it (`SO_PEERCRED`).
public struct PeerIdentity: Sendable, Equatable, Hashable {
    public var uid: UInt32
    public var gid: UInt32
    public var pid: Int32

    public init(uid: UInt32, gid: UInt32, pid: Int32) {
        self.uid = uid
        self.gid = gid
        self.pid = pid
    }
}

/// What a session may carry to its build.
public enum Grant: String, Sendable, Codable, CaseIterable, Hashable {
    case deployKey = "deploy-key"
    case token
}
