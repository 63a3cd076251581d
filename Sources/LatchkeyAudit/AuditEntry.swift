/// What one request did, as the audit log records it. Strings come from the daemon's
/// own code paths (names, codes); they are capped at `maxField` bytes all the same.
public struct AuditEntry: Sendable, Codable, Equatable {
    public static let maxField = 256

    public struct Actor: Sendable, Codable, Equatable {
        /// admin, runner, build, auditor, daemon or anonymous.
        public var role: String
        public var uid: UInt32?
        public var gid: UInt32?
        public var pid: Int32?
        public var sessionID: String?

        public init(role: String, uid: UInt32? = nil, gid: UInt32? = nil, pid: Int32? = nil, sessionID: String? = nil) {
            self.role = AuditEntry.cap(role)
            self.uid = uid
            self.gid = gid
            self.pid = pid
            self.sessionID = sessionID.map(AuditEntry.cap)
        }
    }

    public struct Target: Sendable, Codable, Equatable {
        public var connection: String?
        public var project: String?
        public var kind: String?
        public var version: Int64?

        public init(connection: String? = nil, project: String? = nil, kind: String? = nil, version: Int64? = nil) {
            self.connection = connection.map(AuditEntry.cap)
            self.project = project.map(AuditEntry.cap)
            self.kind = kind.map(AuditEntry.cap)
            self.version = version
        }
    }

    public enum Outcome: String, Sendable, Codable {
        case granted, denied, failed
    }

    public var actor: Actor
    public var action: String
    public var target: Target
    public var outcome: Outcome
    /// The reason code of a denial or failure (`peer_not_allowed`, …), or a note.
    public var reason: String?
    /// The daemon's own id of the request (in its answer's `X-Request-Id`).
    public var requestID: String?
    /// The `X-Request-Id` the client sent, if any: a label of the client's, never the
    /// daemon's id.
    public var clientRequestID: String?

    public init(
        actor: Actor, action: String, target: Target = .init(), outcome: Outcome, reason: String? = nil, requestID: String? = nil,
        clientRequestID: String? = nil
    ) {
        self.actor = actor
        self.action = Self.cap(action)
        self.target = target
        self.outcome = outcome
        self.reason = reason.map(Self.cap)
        self.requestID = requestID.map(Self.cap)
        self.clientRequestID = clientRequestID.map(Self.cap)
    }

    static func cap(_ s: String) -> String {
        guard s.utf8.count > maxField else { return s }
        var out = ""
        for ch in s {
            if out.utf8.count + ch.utf8.count > maxField { break }
            out.append(ch)
        }
        return out
    }
}
