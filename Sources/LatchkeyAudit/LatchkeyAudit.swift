// LatchkeyAudit: the append-only, hash-chained, signed audit log.
//
// `AuditLog` is the store's single writer. Callers hand it an `AuditEntry` — and, for a
// store change, the change itself — and it writes everything that arrived together in
// one transaction and one fsync (group commit), then answers every caller; nothing is
// acknowledged before it is durable, and a failed write answers `unavailable` to all.
// Each row's hash is BLAKE2b-256 over the previous row's hash and the row's canonical
// encoding (`AuditEncoding`, documented in docs/AUDIT.md). Every 1,000 rows or 60 s,
// and at close, a `Checkpoint` over the chain head is signed with the Ed25519 audit key
// and also written to the daemon's log. `AuditVerifier` checks a chain and its
// checkpoints with nothing but the public key; `AuditExport` writes and reads the
// JSON Lines form auditors take away.
