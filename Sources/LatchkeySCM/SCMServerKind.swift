/// The kinds of self-hosted SCM server Latchkey talks to (raw values as the store's).
package enum SCMServerKind: String, Sendable, CaseIterable {
    case githubEnterprise = "github-enterprise"
    case gitlab
    case bitbucketServer = "bitbucket-server"

    /// How error messages name the server.
    package var displayName: String {
        switch self {
        case .githubEnterprise: "GitHub Enterprise"
        case .gitlab: "GitLab"
        case .bitbucketServer: "Bitbucket Server"
        }
    }
}
