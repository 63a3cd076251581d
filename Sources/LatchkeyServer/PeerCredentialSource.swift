internal import CSystemShims
package import NIOCore
import Foundation
import LatchkeyCore

/// Where a connection's peer credentials come from. The socket server reads them from
/// the kernel (`SO_PEERCRED`); tests inject their own on an `EmbeddedChannel`.
package protocol PeerCredentialSource: Sendable {
    /// The peer of `channel`, or nil if it cannot be told. Called on the channel's event
    /// loop when it becomes active; must not block.
    func credentials(of channel: any Channel) -> PeerCredentials?
}

/// `SO_PEERCRED` on the channel's socket. The option is read on the event loop itself,
/// so the future is already complete: no blocking.
package struct KernelPeerCredentials: PeerCredentialSource {
    package init() {}

    package func credentials(of channel: any Channel) -> PeerCredentials? {
        guard let provider = channel as? any SocketOptionProvider else { return nil }
        var peer: PeerCredentials?
        provider.unsafeGetSocketOption(level: .socket, name: .init(rawValue: SO_PEERCRED))
            .whenSuccess { (cred: PeerCredentialsRaw) in peer = PeerCredentials(pid: cred.pid, uid: cred.uid, gid: cred.gid) }
        return peer
    }
}

/// `struct ucred` as the kernel lays it out: pid, uid, gid (12 bytes).
struct PeerCredentialsRaw {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

extension PeerCredentials {
    /// Reads the credentials of a connected socket, or nil if the kernel will not say.
    package static func of(fileDescriptor fd: Int32) -> PeerCredentials? {
        var pid: pid_t = 0
        var uid: uid_t = 0
        var gid: gid_t = 0
        guard latchkey_peer_credentials(fd, &pid, &uid, &gid) == 0 else { return nil }
        return PeerCredentials(pid: pid, uid: uid, gid: gid)
    }
}
