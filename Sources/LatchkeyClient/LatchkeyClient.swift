// LatchkeyClient: talks to a running daemon over its Unix socket (HTTP/1.1, JSON).
//
// `UnixHTTPConnection` is one blocking keep-alive connection with bounded response
// parsing; `LatchkeyClient` wraps it with typed calls that turn error bodies into
// `ClientError.api` (status, code, message). The CLI and the benchmark use it.
