package import LatchkeyAPI
package import LatchkeyAudit

/// Every route of the socket API, listed once: method, path, the roles that may call
/// it, its audit action, its request and answer types, its handler. The router takes
/// every request through the same steps (see `Router`), so an endpoint here cannot skip
/// authorization or its audit row. docs/openapi.yaml documents the same list, and a test
/// holds the two together.
///
/// To add an endpoint: write its handler as a `Vault` method (in `Handlers/`) taking
/// `(inout Operation, Body)`, add one line here, add its path to docs/openapi.yaml and
/// its action to `AuditAction` (and docs/AUDIT.md); a new refusal is a `RefusalCode`.
package enum EndpointTable {
    package static let endpoints: [Endpoint] = [
        // Liveness: answers on the event loop, the benchmark's floor; no row.
        .unaudited(.GET, "/v1/health", answer: HealthResponse.self) { v in v.health() },

        // Connections and their tokens.
        .route(.POST, "/v1/connections", .roles([.admin]), .connectionAdd, body: ConnectionRequest.self, answer: ConnectionInfo.self, status: 201) {
            v, op, body in try await v.addConnection(&op, body)
        },
        .route(.GET, "/v1/connections", .roles([.admin]), .connectionList, answer: [ConnectionInfo].self) { v, op in
            try await v.listConnections(&op)
        },
        .route(.GET, "/v1/connections/{name}", .roles([.admin]), .connectionShow, answer: ConnectionInfo.self) { v, op in
            try await v.showConnection(&op)
        },
        .route(.DELETE, "/v1/connections/{name}", .roles([.admin]), .connectionRemove, answer: RemovalResult.self) { v, op in
            try await v.removeConnection(&op)
        },
        .route(.POST, "/v1/connections/{name}/tokens", .roles([.admin]), .tokenPut, body: TokenPutRequest.self, answer: TokenInfo.self, status: 201) {
            v, op, body in try await v.putToken(&op, body)
        },
        .route(.POST, "/v1/connections/{name}/tokens/revoke", .roles([.admin]), .tokenRevoke, body: TokenRevokeRequest.self, answer: RevokeResult.self) {
            v, op, body in try await v.revokeTokens(&op, body)
        },
        // The connection's SSH certificate authority and what its certificates say.
        .route(.POST, "/v1/connections/{name}/ca", .roles([.admin]), .certificateAuthorityCreate, body: CertificateAuthorityRequest.self,
            answer: CertificateAuthorityInfo.self, status: 201) { v, op, body in try await v.createCertificateAuthority(&op, body, rotate: false) },
        .route(.POST, "/v1/connections/{name}/ca/rotate", .roles([.admin]), .certificateAuthorityRotate, body: CertificateAuthorityRequest.self,
            answer: CertificateAuthorityInfo.self, status: 201) { v, op, body in try await v.createCertificateAuthority(&op, body, rotate: true) },
        .route(.GET, "/v1/connections/{name}/ca", .roles([.admin]), .certificateAuthorityShow, answer: [CertificateAuthorityInfo].self) { v, op in
            try await v.listCertificateAuthorities(&op)
        },
        .route(.POST, "/v1/connections/{name}/ca/revoke", .roles([.admin]), .certificateAuthorityRevoke, body: RevokeRequest.self, answer: RevokeResult.self) {
            v, op, body in try await v.revokeCertificateAuthorities(&op, body)
        },
        // The connection's API: its trust, and what the server says about its token.
        .route(.PATCH, "/v1/connections/{name}", .roles([.admin]), .connectionSet, body: ConnectionUpdateRequest.self, answer: ConnectionInfo.self) {
            v, op, body in try await v.setConnection(&op, body)
        },
        .route(.POST, "/v1/connections/{name}/verify", .roles([.admin]), .connectionVerify, answer: ConnectionVerifyResult.self) { v, op in
            try await v.verifyConnection(&op)
        },
        .route(.GET, "/v1/connections/{name}/certificate-settings", .roles([.admin]), .connectionShowCertificates,
            answer: CertificateSettingsInfo.self) { v, op in try await v.showCertificateSettings(&op) },
        .route(.PATCH, "/v1/connections/{name}/certificate-settings", .roles([.admin]), .connectionSetCertificates,
            body: CertificateSettingsRequest.self, answer: CertificateSettingsInfo.self) { v, op, body in try await v.setCertificateSettings(&op, body) },
        .route(.GET, "/v1/tokens", .roles([.admin]), .tokenList, answer: [TokenInfo].self) { v, op in try await v.listTokens(&op) },
        // A GitHub Enterprise connection's GitHub App (its key mints repository tokens).
        .route(.POST, "/v1/connections/{name}/app", .roles([.admin]), .githubAppPut, body: GitHubAppPutRequest.self, answer: GitHubAppInfo.self,
            status: 201) { v, op, body in try await v.putGitHubApp(&op, body) },
        .route(.GET, "/v1/connections/{name}/app", .roles([.admin]), .githubAppList, answer: [GitHubAppInfo].self) { v, op in
            try await v.listGitHubApps(&op)
        },
        .route(.POST, "/v1/connections/{name}/app/revoke", .roles([.admin]), .githubAppRevoke, body: RevokeRequest.self, answer: RevokeResult.self) {
            v, op, body in try await v.revokeGitHubApps(&op, body)
        },
        // The repository tokens minted for sessions: live ones and pending revocations.
        .route(.GET, "/v1/minted-tokens", .roles([.admin]), .mintedTokenList, answer: [MintedTokenInfo].self) { v, op in
            try await v.listMintedTokens(&op)
        },
        .route(.GET, "/v1/intake-key", .roles([.admin]), .intakeKeyShow, answer: IntakeKey.self) { v, op in v.intakeKey(&op) },

        // Projects and their deploy keys.
        .route(.POST, "/v1/projects", .roles([.admin]), .projectAdd, body: ProjectRequest.self, answer: ProjectInfo.self, status: 201) {
            v, op, body in try await v.addProject(&op, body)
        },
        .route(.PATCH, "/v1/projects/{name}", .roles([.admin]), .projectSet, body: ProjectUpdateRequest.self, answer: ProjectInfo.self) {
            v, op, body in try await v.setProject(&op, body)
        },
        .route(.POST, "/v1/projects/{name}/deploy-keys/install", .roles([.admin]), .deployKeyInstall, body: RevokeRequest.self, answer: DeployKeyInfo.self) {
            v, op, body in try await v.installDeployKeyByHand(&op, body)
        },
        .route(.POST, "/v1/projects/{name}/deploy-keys/uninstall", .roles([.admin]), .deployKeyUninstall, body: RevokeRequest.self, answer: DeployKeyInfo.self) {
            v, op, body in try await v.uninstallDeployKeyByHand(&op, body)
        },
        .route(.GET, "/v1/projects", .roles([.admin]), .projectList, answer: [ProjectInfo].self) { v, op in try await v.listProjects(&op) },
        .route(.GET, "/v1/projects/{name}", .roles([.admin]), .projectShow, answer: ProjectInfo.self) { v, op in
            try await v.showProject(&op)
        },
        .route(.DELETE, "/v1/projects/{name}", .roles([.admin]), .projectRemove, answer: RemovalResult.self) { v, op in
            try await v.removeProject(&op)
        },
        .route(.POST, "/v1/projects/{name}/deploy-keys", .roles([.admin]), .deployKeyCreate, body: DeployKeyRequest.self, answer: DeployKeyInfo.self, status: 201) {
            v, op, body in try await v.createDeployKey(&op, body, rotate: false)
        },
        .route(.POST, "/v1/projects/{name}/deploy-keys/rotate", .roles([.admin]), .deployKeyRotate, body: DeployKeyRequest.self, answer: DeployKeyInfo.self, status: 201) {
            v, op, body in try await v.createDeployKey(&op, body, rotate: true)
        },
        .route(.GET, "/v1/projects/{name}/deploy-keys", .roles([.admin]), .deployKeyList, answer: [DeployKeyInfo].self) { v, op in
            try await v.listDeployKeys(&op)
        },
        .route(.GET, "/v1/projects/{name}/deploy-keys/{version}", .roles([.admin]), .deployKeyShow, answer: DeployKeyInfo.self) { v, op in
            try await v.showDeployKey(&op)
        },
        .route(.POST, "/v1/projects/{name}/deploy-keys/revoke", .roles([.admin]), .deployKeyRevoke, body: RevokeRequest.self, answer: RevokeResult.self) {
            v, op, body in try await v.revokeDeployKeys(&op, body)
        },

        // Webhooks Latchkey installs on the repositories, with secrets it keeps.
        .route(.POST, "/v1/projects/{name}/webhook", .roles([.admin]), .webhookInstall, body: WebhookInstallRequest.self, answer: WebhookInfo.self, status: 201) {
            v, op, body in try await v.installWebhook(&op, body)
        },
        .route(.GET, "/v1/projects/{name}/webhook", .roles([.admin]), .webhookShow, answer: WebhookInfo.self) { v, op in try await v.showWebhook(&op) },
        .route(.POST, "/v1/projects/{name}/webhook/rotate", .roles([.admin]), .webhookRotate, body: WebhookRotateRequest.self, answer: WebhookInfo.self) {
            v, op, body in try await v.rotateWebhook(&op, body)
        },
        .route(.DELETE, "/v1/projects/{name}/webhook", .roles([.admin]), .webhookRemove, answer: WebhookInfo.self) { v, op in try await v.removeWebhook(&op) },
        .route(.GET, "/v1/webhooks", .roles([.admin]), .webhookList, answer: [WebhookInfo].self) { v, op in try await v.listWebhooks(&op) },
        // The CI's webhook receiver forwards a delivery: raw body (up to 1 MiB), the server's
        // signature header as is.
        .route(.POST, "/v1/projects/{name}/webhook/verify", .roles([.webhookReceiver]), .webhookVerify, answer: WebhookVerifyResult.self) { v, op in
            try await v.verifyWebhookDelivery(&op)
        }.bodyLimit(Vault.webhookDeliveryMaxBytes),

        // The master key.
        .route(.POST, "/v1/master-key/rotate", .roles([.admin]), .masterKeyRotate, answer: MasterKeyRotation.self) { v, op in
            try await v.rotateMasterKey(&op)
        },
        .route(.POST, "/v1/master-key/rekey", .roles([.admin]), .masterKeyRekey, body: MasterKeyRekeyRequest.self, answer: MasterKeyRekeyResult.self) {
            v, op, body in try await v.rekeyMasterKey(&op, body)
        },

        // Sessions: runners open and close them; admins list and revoke them.
        .route(.POST, "/v1/sessions", .roles([.runner]), .sessionOpen, body: SessionOpenRequest.self, answer: SessionOpened.self, status: 201) {
            v, op, body in try await v.openSession(&op, body)
        },
        .route(.GET, "/v1/sessions", .roles([.admin]), .sessionList, answer: [SessionInfo].self) { v, op in try await v.listSessions(&op) },
        .route(.DELETE, "/v1/sessions/{id}", .roles([.runner, .admin]), .sessionClose, answer: SessionInfo.self) { v, op in
            try await v.closeSession(&op)
        },
        .route(.POST, "/v1/sessions/{id}/revoke", .roles([.admin]), .sessionRevoke, answer: SessionInfo.self) { v, op in
            try await v.revokeSession(&op)
        },

        // Builds redeem their session. The two releases answer on the event loop when no
        // async step is needed, through the same release decision as the full path.
        .raw(.GET, "/v1/session/deploy-key", .roles([.build]), .secretRelease, answer: "ReleasedDeployKey",
            onLoop: { v, req, loop in v.releaseOnLoop(req, grant: .deployKey, on: loop) }) { v, op in
            try await v.release(&op, grant: .deployKey)
        },
        .raw(.GET, "/v1/session/token", .roles([.build]), .secretRelease, answer: "ReleasedToken",
            onLoop: { v, req, loop in v.releaseOnLoop(req, grant: .token, on: loop) }) { v, op in
            try await v.release(&op, grant: .token)
        },
        .raw(.GET, "/v1/session/ssh-cert", .roles([.build]), .secretRelease, answer: "ReleasedSSHCertificate") { v, op in
            try await v.release(&op, grant: .sshCert)
        },
        // Minted on the server at the first redeem (never on the event loop).
        .raw(.GET, "/v1/session/repo-token", .roles([.build]), .secretRelease, answer: "ReleasedRepoToken") { v, op in
            try await v.release(&op, grant: .repoToken)
        },
        .route(.GET, "/v1/session", .roles([.build]), .sessionShow, answer: SessionInfo.self) { v, op in try await v.showOwnSession(&op) },
        .raw(.POST, "/v1/session/agent", .roles([.build]), .agentOpen, answer: "SessionAgentInfo", status: 201) { v, op in
            try await v.openAgent(&op)
        },

        // The audit log, for auditors.
        .raw(.GET, "/v1/audit", .roles([.auditor]), .auditList, answer: "[AuditRow]") { v, op in try await v.listAudit(&op) },
        .raw(.GET, "/v1/audit/export", .roles([.auditor]), .auditExport, answer: "NDJSON") { v, op in try await v.exportAudit(&op) },
        .route(.GET, "/v1/audit/public-key", .roles([.auditor]), .auditPublicKey, answer: AuditPublicKey.self) { v, op in
            v.auditPublicKey(&op)
        },

        // Operations: a backup of the live store (the SQLite file), the metrics.
        .raw(.POST, "/v1/backup", .roles([.admin]), .storeBackup, answer: "Backup") { v, op in try await v.takeBackup(&op) },
        .raw(.GET, "/v1/metrics", .roles([.admin, .auditor]), .metricsRead, answer: "PrometheusText") { v, op in
            try await v.scrapeMetrics(&op)
        },
    ]
}
