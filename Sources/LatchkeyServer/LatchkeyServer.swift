// LatchkeyServer: the thin adapter between sockets and `LatchkeyCore`.
//
// `SocketServer` listens on the Unix socket (mode 0660) with SwiftNIO's HTTP/1 pipeline:
// `RequestClock` (times each request from its first raw byte: 408 for slow clients) →
// NIO's HTTP decoder → `HTTPHandler`, which enforces the size limits, takes the peer's
// pid/uid/gid once per connection from a `PeerCredentialSource` (`SO_PEERCRED` for real
// sockets, an injected one in tests), turns each complete request into a core `Request`
// and hands it to the core's `Router`. What it refuses itself (413, 431, 408, 400
// `bad_http`, 401 `no_peer_credentials`) it answers from the loop and audits through
// `Router.auditAdapterRefusal`, so those requests leave their row too. `SessionAgent` is
// a session's own ssh-agent socket; the core starts it through `SessionAgentFactory` and
// never sees its socket.
// `Daemon` ties store, vault and socket together for `latchkey serve`.
//
// Concurrency model. Each connection lives on one event loop of the server's
// `MultiThreadedEventLoopGroup` (one per core unless configured), and every handler's
// state is touched only there. A request is first offered to `Router.respondOnLoop`
// (health, and releases that need no async step — answered from the loop); anything else
// runs `Router.respond` in a task and its answer is written back on the connection's
// loop. Requests on one connection are answered in order (one in flight at a time; the
// next pipelined request is read after the answer). Session agents accept on NIO's
// singleton group; their signatures wait on the audit writer the same way. Nothing here
// blocks an event loop: binding the listener (`.wait()` in `SocketServer.init`) happens
// on the caller's thread before any loop serves.
@_exported public import LatchkeyCore
