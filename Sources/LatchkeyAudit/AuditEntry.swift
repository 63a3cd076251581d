/// What one request did, as the audit log records it. Strings come from the daemon's
/// own code paths (names, codes); they are capped at `maxField` bytes all the same.
package struct AuditEntry: Sendable, Codable, Equatable {
    package static let maxField = 256

    package struct Actor: Sendable, Codable, Equatable {
        /// admin, runner, build, auditor, daemon or anonymous.
        package var role: String
        package var uid: UInt32?
        package var gid: UInt32?
        package var pid: Int32?
        package var sessionID: String?

        package init(role: String, uid: UInt32? = nil, gid: UInt32? = nil, pid: Int32? = nil, sessionID: String? = nil) {
            self.role = AuditEntry.cap(role)
            self.uid = uid
            self.gid = gid
            self.pid = pid
            self.sessionID = sessionID.map(AuditEntry.cap)
        }
    }

    package struct Target: Sendable, Codable, Equatable {
        package var connection: String?
        package var project: String?
        package var kind: String?
        package var version: Int64?

        package init(connection: String? = nil, project: String? = nil, kind: String? = nil, version: Int64? = nil) {
            self.connection = connection.map(AuditEntry.cap)
            self.project = project.map(AuditEntry.cap)
            self.kind = kind.map(AuditEntry.cap)
            self.version = version
        }
    }

    package enum Outcome: String, Sendable, Codable, CaseIterable {
        case granted, denied, failed
    }

    package var actor: Actor
    package var action: String
    package var target: Target
    package var outcome: Outcome
    /// The reason code of a denial or failure (`peer_not_allowed`, …), or a note.
    package var reason: String?
    /// The daemon's own id of the request (in its answer's `X-Request-Id`).
    package var requestID: String?
    /// The `X-Request-Id` the client sent, if any: a label of the client's, never the
    /// daemon's id.
    package var clientRequestID: String?
    /// The host whose daemon wrote the row, on a fleet's shared store (`serve
    /// --host-name`); nil on a single host's SQLite store. Set by the audit log.
    package var host: String?

    package init(
        actor: Actor, action: String, target: Target = .init(), outcome: Outcome, reason: String? = nil, requestID: String? = nil,
        clientRequestID: String? = nil, host: String? = nil
    ) {
        self.host = host.map(Self.cap)
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
