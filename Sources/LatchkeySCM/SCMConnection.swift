/// What the client needs to know about one SCM connection.
package struct SCMConnection: Sendable, Equatable {
    /// The connection's name in Latchkey (used in errors and audit rows).
    package var name: String
    package var kind: SCMServerKind
    /// The REST API root, `https://HOST[:PORT]/api/v3` (GitHub Enterprise),
    /// `…/api/v4` (GitLab) or `…/rest/api/1.0` (Bitbucket Server / Data Center).
    package var apiURL: String
    /// A PEM file of the CA certificates to trust for this server instead of the
    /// system's store (self-hosted servers often have an internal CA).
    package var caFile: String?

    package init(name: String, kind: SCMServerKind, apiURL: String, caFile: String? = nil) {
        self.name = name
        self.kind = kind
        self.apiURL = apiURL
        self.caFile = caFile
    }
}
