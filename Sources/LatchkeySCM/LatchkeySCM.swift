// LatchkeySCM: Latchkey's one outbound client, for the SCM servers it holds tokens for.
//
// Model. A `SCMConnection` says where a server's REST API is (https only) and whom to
// trust for its certificate (the system's CA store, or one PEM file). An `SCMClient`
// sends `SCMRequest`s to that one API host through swift-server/async-http-client
// (TLS by swift-nio-ssl, certificate and host name always checked, redirects never
// followed so a token cannot be carried to another host). It bounds what it does:
// connect and whole-request timeouts, at most `maxInFlight` requests at once, retries
// with exponential backoff and full jitter (429 for any request; 502/503/504 and
// connection resets only for idempotent ones), `Retry-After` and the servers'
// rate-limit headers honoured. Every attempt is reported to an `SCMRequestObserver`
// (the daemon writes the `scm.request` audit row from it: connection, method, path,
// status, duration; never a header or a body).
//
// The token is a `SecretBytes` handed to each call; it becomes an `Authorization`
// header value for the duration of one request and nothing else: it is never logged,
// never put in an error (a server that echoes it gets its message redacted), never in
// an observer's record.
//
// `SCMServerAdapter` is the small protocol over the three servers' APIs (verify a token,
// install / list / remove deploy keys, install / update / remove webhooks); one adapter
// per kind (`GitHubEnterpriseAdapter`, `GitLabAdapter`, `BitbucketServerAdapter`), each
// citing the documentation it follows. `SCMAdapters.make(for:)` picks one.
//
// What runs where: everything here is async and runs on the caller's task and on
// async-http-client's event loops; the client's only shared state (rate-limit pause,
// in-flight count) is in the `SCMClientState` actor. Nothing blocks an event loop.
