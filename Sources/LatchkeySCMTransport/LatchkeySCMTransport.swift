// LatchkeySCMTransport: the wire under LatchkeySCM, the daemon's one outbound client.
//
// Model. An `SCMClient` is the `SCMTransport` of one connection: it sends `SCMRequest`s
// to that one API host through swift-server/async-http-client (TLS by swift-nio-ssl,
// TLS 1.2 or later, certificate chain and host name always checked, the connection's CA
// file as the only trust root when it has one, redirects never followed so a token
// cannot be carried to another host). It bounds what it does: connect and
// whole-request timeouts, at most `maxInFlight` requests at once, retries as
// LatchkeySCM's `RetryPolicy` decides, rate-limit pauses shared by the connection's
// requests. Every attempt is reported to the `SCMRequestObserver` it was given.
// `SCMClientFactory` is the `SCMTransportFactory` the server module passes to the core.
//
// The async-http-client instances are shared by the process (`HTTPClientPool`), one per
// proxy, connect timeout and pool size; each lives as long as the process.
//
// What runs where: requests run on the caller's task and on async-http-client's event
// loops; a client's only shared state (rate-limit pause, in-flight count) is in the
// `SCMClientState` actor. Nothing blocks an event loop.
