package import LatchkeyCrypto

/// A deploy key to install: `title` is `latchkey:PROJECT:vN`, `publicKey` the
/// `authorized_keys` line.
package struct SCMDeployKey: Sendable, Equatable {
    package var title: String
    package var publicKey: String
    /// Whether the key may push (`read_only: false`, `can_push`, `REPO_WRITE`).
    package var write: Bool

    package init(title: String, publicKey: String, write: Bool) {
        self.title = title
        self.publicKey = publicKey
        self.write = write
    }

    /// The key types every one of the three servers accepts. DSA (`ssh-dss`) is refused
    /// by all of them (GitHub since 2022, GitLab's default key restrictions, Bitbucket 8).
    package static let acceptedTypes: Set<String> = [
        "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa",
        "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
    ]

    /// Refuses a key type the server would refuse, before anything is sent.
    package func checkType(for connection: SCMConnection) throws(SCMError) {
        let type = publicKey.split(separator: " ").first.map(String.init) ?? ""
        guard Self.acceptedTypes.contains(type) else {
            throw SCMError(
                .unsupportedKey,
                "\(connection.kind.displayName) \(connection.name) does not accept \(type.isEmpty ? "this" : "'\(ServerMessage.cap(type))'") keys (DSA is refused everywhere); rotate the project's key to ed25519, ecdsa-p256 or rsa-3072")
        }
    }
}

/// A key as the server lists it.
package struct SCMInstalledKey: Sendable, Equatable {
    package var id: String
    package var title: String
    package var publicKey: String
}

/// A webhook to create or update. The secret is passed apart, as `SecretBytes`.
package struct SCMWebhook: Sendable, Equatable {
    package var url: String
    /// Latchkey's own event names (`push`, `pull_request`, `tag`), mapped per server.
    package var events: [String]

    package init(url: String, events: [String]) {
        self.url = url
        self.events = events
    }

    package static let defaultEvents = ["push"]
    package static let knownEvents: Set<String> = ["push", "pull_request", "tag"]
}

/// What a connection's projects have turned on, per repository, so that verification
/// can name what the token is missing.
package struct SCMRepositoryNeeds: Sendable, Equatable {
    package var repository: String
    package var installDeployKey: Bool
    package var writeDeployKey: Bool
    package var webhooks: Bool

    package init(repository: String, installDeployKey: Bool = false, writeDeployKey: Bool = false, webhooks: Bool = false) {
        self.repository = repository
        self.installDeployKey = installDeployKey
        self.writeDeployKey = writeDeployKey
        self.webhooks = webhooks
    }
}

/// What the server says about a token.
package struct SCMTokenReport: Sendable, Equatable {
    /// The token's user, as the server names it (`login`, `username`, `X-AUSERNAME`).
    package var user: String
    /// Its scopes, or nil where the server has none to tell (fine-grained GitHub tokens,
    /// Bitbucket, whose tokens carry permissions instead).
    package var scopes: [String]?
    /// Expiry as the server reports it (RFC 3339 time or `YYYY-MM-DD`), if any.
    package var expiresAt: String?
    /// Each scope or permission Latchkey needs and the token lacks, with where.
    package var missing: [String]
    /// Facts worth showing ("fine-grained token: no scopes to list").
    package var notes: [String]
    /// False when the server answered but says the token no longer works (GitLab's
    /// `active: false` or `revoked: true`): as good as a 401.
    package var active: Bool = true

    package var ok: Bool { missing.isEmpty && active }

    package init(user: String, scopes: [String]?, expiresAt: String?, missing: [String] = [], notes: [String] = [], active: Bool = true) {
        self.user = user
        self.scopes = scopes
        self.expiresAt = expiresAt
        self.missing = missing
        self.notes = notes
        self.active = active
    }

    /// The first UTC day on which the token no longer works, as `YYYY-MM-DD` (Latchkey's
    /// `--expires` form), from the server's `expiresAt`: GitLab's date is that day (its
    /// tokens expire at the start of it); GitHub's time is floored to its day, so a token
    /// is never released on the day it dies. Nil when the server reports no expiry or a
    /// form Latchkey does not know.
    package var expiryDay: String? {
        guard let e = expiresAt, e.utf8.count >= 10 else { return nil }
        let day = String(e.prefix(10))
        let parts = day.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            parts.allSatisfy({ $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) })
        else { return nil }
        if e.utf8.count > 10 {
            let sep = e[e.index(e.startIndex, offsetBy: 10)]
            guard sep == "T" || sep == " " else { return nil }
        }
        return day
    }
}

/// The small protocol over each server's REST API. Removal calls succeed when the key
/// or hook is already gone (404): removal is what was asked for.
package protocol SCMServerAdapter: Sendable {
    var client: any SCMTransport { get }

    func verifyToken(_ token: SecretBytes, needs: [SCMRepositoryNeeds]) async throws(SCMError) -> SCMTokenReport

    func installDeployKey(_ key: SCMDeployKey, repository: String, token: SecretBytes) async throws(SCMError) -> SCMInstalledKey
    /// Every deploy key on the repository (all pages).
    func listDeployKeys(repository: String, token: SecretBytes) async throws(SCMError) -> [SCMInstalledKey]
    func removeDeployKey(id: String, repository: String, token: SecretBytes) async throws(SCMError)

    /// Creates the hook and returns the server's id.
    func installWebhook(_ hook: SCMWebhook, repository: String, secret: SecretBytes, token: SecretBytes) async throws(SCMError) -> String
    /// Sets a new secret (and URL and events) on an existing hook.
    func updateWebhook(id: String, _ hook: SCMWebhook, repository: String, secret: SecretBytes, token: SecretBytes) async throws(SCMError)
    func removeWebhook(id: String, repository: String, token: SecretBytes) async throws(SCMError)
    /// Every webhook on the repository (all pages): its id and delivery URL.
    func listWebhooks(repository: String, token: SecretBytes) async throws(SCMError) -> [SCMInstalledWebhook]
}

/// A webhook as the server lists it (servers never list a hook's secret).
package struct SCMInstalledWebhook: Sendable, Equatable {
    package var id: String
    package var url: String

    package init(id: String, url: String) {
        self.id = id
        self.url = url
    }
}

/// Picks the adapter for a connection's kind.
package enum SCMAdapters {
    package static func make(for client: any SCMTransport) -> any SCMServerAdapter {
        switch client.connection.kind {
        case .githubEnterprise: GitHubEnterpriseAdapter(client: client)
        case .gitlab: GitLabAdapter(client: client)
        case .bitbucketServer: BitbucketServerAdapter(client: client)
        }
    }
}

extension SecretBytes {
    /// The secret as text, for a request body that must carry it (a webhook secret).
    /// The copy is a Swift string that lives for the one request.
    func utf8Text() -> String { withUnsafeBytes { String(decoding: $0, as: UTF8.self) } }
}
