// LatchkeyAPI: the JSON bodies of the socket API (`/v1`), shared by the daemon and
// the client. The OpenAPI document `docs/openapi.yaml` describes the same shapes; the
// server tests hold the routes to it. Every error is `{"error":{"code","message"}}`.

/// The API's version prefix.
public let apiPrefix = "/v1"
