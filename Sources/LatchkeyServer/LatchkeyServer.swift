// LatchkeyServer: the daemon's HTTP/1.1 + JSON API on a Unix domain socket.
//
// SwiftNIO's HTTP/1 pipeline feeds `HTTPHandler`, which enforces the size and time
// limits, reads the peer's pid/uid/gid from `SO_PEERCRED` once per connection and
// hands each complete request to the `Router`. Routes are small async functions over
// `Request` → `Response`; the `Vault` holds the store, the key ring, the audit log and
// the policy, and every route goes through it. A refusal (the client's fault) is an
// `APIError` with a status and a stable code; an internal fault becomes a 500 with no
// detail leaked. Every request writes an audit row.
