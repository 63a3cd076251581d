// LatchkeySCM: what Latchkey says to the SCM servers it holds tokens for, with no socket.
//
// Model. A `SCMConnection` says where a server's REST API is (https only) and whom to
// trust for its certificate (the system's CA store, or one PEM file). Requests
// (`SCMRequest`) and answers (`SCMResponse`) are plain values; they travel through an
// `SCMTransport`, the one-method protocol the adapters need (`send`; `call` and
// `failure` are built on it here, so the servers' statuses become the same `SCMError`s
// whatever carries them). This module holds the decisions about a request but not the
// wire: when to retry and after how long (`RetryPolicy`: 429 for any request;
// 502/503/504 and connection resets only for idempotent ones; `Retry-After` and the
// servers' rate-limit headers), how patient to be (`SCMClientSettings`), which proxy a
// host takes (`SCMProxySettings`), what an attempt reports (`SCMRequestRecord` to an
// `SCMRequestObserver`: connection, method, path, status, duration; never a header or a
// body), webhook signatures, the GitHub App JWT and the minted-token calls.
//
// The transport itself — async-http-client, TLS by swift-nio-ssl, the connection pool,
// the in-flight bound — lives in LatchkeySCMTransport (`SCMClient`), which the daemon's
// adapter module hands to the core as an `SCMTransportFactory`. This module depends on
// LatchkeyCrypto and OpenSSL (the App JWT's RS256) only, so the core that uses it opens
// no socket.
//
// The token is a `SecretBytes` handed to each call; it becomes an `Authorization`
// header value for the duration of one request and nothing else: it is never logged,
// never put in an error (a server that echoes it gets its message redacted), never in
// an observer's record.
//
// `SCMServerAdapter` is the small protocol over the three servers' APIs (verify a token,
// install / list / remove deploy keys, install / update / remove webhooks); one adapter
// per kind (`GitHubEnterpriseAdapter`, `GitLabAdapter`, `BitbucketServerAdapter`), each
// citing the documentation it follows. `SCMAdapters.make(for:)` picks one for a transport.
//
// What runs where: everything here is async and runs on the caller's task (and, through
// the transport, on its event loops); nothing here holds shared state or blocks.
