package import LatchkeyPolicy
package import LatchkeyStore

/// What a build's redeem of its session comes to: release the pinned version, or refuse
/// with a code. One pure function decides it for both the event-loop fast path and the
/// checked path, so they cannot disagree; the fast path differs only in taking the
/// releases that need no async step (not the session's last use, a seal under the
/// current key generation).
package enum ReleaseDecision: Sendable, Equatable {
    /// Release version `version` of the pinned secret. `lastUse`: this use is the
    /// session's last (the session ends after it). `sealIsCurrent`: the pinned seal is
    /// under the active key generation (else it is read again from the store).
    case release(version: Int64, lastUse: Bool, sealIsCurrent: Bool)
    case refuse(RefusalCode)

    /// Everything the decision depends on but the session, captured at one instant.
    package struct Facts: Sendable {
        /// Whether a well-formed session token was presented at all.
        package var tokenPresented: Bool
        /// How the token's session ended by itself, when it is no longer live (its last
        /// use taken, or its deadline passed).
        package var gone: SessionGone?
        package var grant: Grant
        package var peer: PeerIdentity
        package var now: Timestamp
        package var clock: ContinuousClock.Instant
        package var keyGeneration: Int64

        package init(
            tokenPresented: Bool, gone: SessionGone? = nil, grant: Grant, peer: PeerIdentity, now: Timestamp, clock: ContinuousClock.Instant,
            keyGeneration: Int64
        ) {
            self.tokenPresented = tokenPresented
            self.gone = gone
            self.grant = grant
            self.peer = peer
            self.now = now
            self.clock = clock
            self.keyGeneration = keyGeneration
        }
    }

    /// The checks, in order: a token, a live session, not expired, the peer allowed by
    /// the session's rule, the grant present, a use left, a version pinned, that version
    /// still usable (active or in grace), and not past its `expires` date. An `ssh-cert`
    /// grant has no stored version: after the use, it needs only its issued certificate.
    /// `session` is the live session the presented token names (nil: none); a redeem
    /// passes it in place, under the session table's lock, so nothing here may copy it.
    package static func decide(_ session: BuildSession?, _ f: Facts) -> ReleaseDecision {
        guard f.tokenPresented else { return .refuse(.noSession) }
        // Optional chaining calls the session's own check in place (a binding would copy it).
        if let decided = session?.releaseDecision(f) { return decided }
        switch f.gone {
        case .usedUp: return .refuse(.sessionUsedUp)
        case .expired: return .refuse(.sessionExpired)
        case nil: return .refuse(.invalidSession)
        }
    }

    /// Whether the event loop may answer it with no async step.
    package var isFast: Bool {
        if case .release(_, let lastUse, let current) = self { return !lastUse && current }
        return false
    }

    /// The answer's message for a refusal, from the session and facts it was decided on.
    package static func message(_ code: RefusalCode, _ s: BuildSession?, _ f: Facts) -> String {
        switch code {
        case .sessionExpired: return "the session expired at \(s.map { "\($0.expiresAt)" } ?? "its deadline")"
        case .peerNotAllowed:
            return "uid \(f.peer.uid) may not redeem sessions of runner rule '\(s?.rule.name ?? "?")'"
        case .grantMissing: return "this session was not granted \(f.grant.rawValue)"
        case .sessionUsedUp: return "the session has used all \(s.map { "\($0.maxUses) " } ?? "")of its uses"
        case .secretRevoked:
            let pin = s?.pin(f.grant)
            return "\(pin?.version.kind.rawValue ?? f.grant.rawValue) v\(pin?.version.version ?? 0) of \(s?.project ?? "?") has been revoked or its grace has ended"
        case .tokenExpired:
            return "the token expired on \(s?.pin(f.grant)?.version.attributes["expires"] ?? "?"); it is never released"
        default: return code.defaultMessage
        }
    }
}


extension BuildSession {
    /// `ReleaseDecision.decide` for a live session, a token presented.
    func releaseDecision(_ f: ReleaseDecision.Facts) -> ReleaseDecision {
        guard f.clock < deadline else { return .refuse(.sessionExpired) }
        guard rule.mayRedeem(f.peer) else { return .refuse(.peerNotAllowed) }
        guard grants.covers(f.grant) else { return .refuse(.grantMissing) }
        guard uses < maxUses else { return .refuse(.sessionUsedUp) }
        if f.grant == .sshCert {
            // Not a stored version: the certificate issued at open, valid as long as the session.
            guard let issued = certificate else { return .refuse(.grantMissing) }
            return .release(version: issued.authorityVersion, lastUse: uses + 1 >= maxUses, sealIsCurrent: true)
        }
        if f.grant == .repoToken {
            // Minted on the server at the first redeem (an async step), never pinned.
            return .release(version: 0, lastUse: uses + 1 >= maxUses, sealIsCurrent: false)
        }
        guard let pin = pin(f.grant) else { return .refuse(.grantMissing) }
        guard pin.version.isUsable(at: f.now) else { return .refuse(.secretRevoked) }
        if pin.version.hasExpired(at: f.now) { return .refuse(.tokenExpired) }
        return .release(version: pin.version.version, lastUse: uses + 1 >= maxUses, sealIsCurrent: pin.sealed.generation == f.keyGeneration)
    }
}

extension BuildSession {
    /// The pinned secret a grant releases.
    package func pin(_ grant: Grant) -> PinnedSecret? {
        switch grant {
        case .deployKey, .deployKeyAgent: pinnedKey
        case .token: pinnedToken
        case .sshCert, .repoToken: nil
        }
    }
}

extension SecretVersion {
    /// A token past its `expires` date is never released.
    package func hasExpired(at now: Timestamp) -> Bool {
        attributes["expires"].flatMap(Timestamp.init(parsing:)).map { now >= $0 } ?? false
    }
}
