// LatchkeyCore: the daemon's state and decisions, with no sockets — the way NIOCore
// stands apart from NIOPosix. `LatchkeyServer` is the thin adapter that carries bytes to
// it (HTTP over the Unix socket, the session agents' sockets).
//
// The shape. `Vault` holds the store, the key ring, the audit log, the policy and the
// live sessions. `EndpointTable` lists every route of the API once (method, path, roles,
// audit action, request and answer types, handler); `Router` runs each request through
// the same steps — match (404/405 audited), identify, authorize (a refusal audited),
// decode and validate the body (`failed bad_request`), handle, audit — so no endpoint can
// skip authorization or its row. `ReleaseDecision.decide` is the one pure function that
// decides a build's redeem, for the event-loop fast path and the checked path alike.
// Refusal codes (`RefusalCode`, with status, outcome and message), audit actions
// (`AuditAction`, in LatchkeyAudit) and roles (`Role`, in LatchkeyAudit) are each listed
// once. A refusal (`APIError`) is the client's fault; any other error is an internal
// fault, answered 500 with no detail and written as `failed internal`.
//
// Concurrency model.
// - Event loops (the adapter's NIO threads) call `Router.respondOnLoop` for every request.
//   Only `/v1/health` and a release the decision grants with no async step (not the
//   session's last use, a seal under the current key generation) answer there: the
//   session table's lock is taken once (decide + take the use), the secret is opened in
//   guarded memory, the granted row is queued to the audit writer and the answer is sent
//   from the writer's completion. Nothing on a loop blocks: no `.wait()`, no store read,
//   no policy parse, no key derivation.
// - Tasks (Swift's cooperative pool): every other request runs `Router.respond` in a task
//   of its own; handlers await the store (GRDB's reader pool) and the audit writer. No lock
//   is held across a suspension.
// - The audit writer is one thread of its own (`AuditLog`) that group-commits queued rows
//   (and the changes handed in with them) in one transaction and one fsync; callers queue
//   under its condition lock and resume when their row is durable.
// - Locks: `SessionTable` (one `Mutex` over all live sessions: every look, use and end);
//   `SessionAgents` (a `Mutex` over the running agents); the policy (a `Mutex` holding
//   the current `Policy`, swapped whole on reload); the housekeeping task handle. Each is
//   held only for a few dictionary operations, never across I/O or an await.
// - Housekeeping is one task (every 5 s): expired sessions end, grace periods end. Its SCM
//   work (pending deploy-key removals, then the tokens due for re-verification) runs on a
//   task of its own, one at a time, so a slow server never holds up session expiry.
