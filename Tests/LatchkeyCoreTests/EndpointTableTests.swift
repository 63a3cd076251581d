import LatchkeyAudit
@testable import LatchkeyCore
import Testing

/// The endpoint table as data: who may call each route and what its row says. A change
/// to any route's roles or action fails here until this list says so too.
@Suite struct EndpointTableTests {
    static let expected: [String: (roles: [Role]?, action: AuditAction?)] = [
        "GET /v1/health": (nil, nil),
        "POST /v1/connections": ([.admin], .connectionAdd),
        "GET /v1/connections": ([.admin], .connectionList),
        "GET /v1/connections/{name}": ([.admin], .connectionShow),
        "DELETE /v1/connections/{name}": ([.admin], .connectionRemove),
        "POST /v1/connections/{name}/tokens": ([.admin], .tokenPut),
        "POST /v1/connections/{name}/tokens/revoke": ([.admin], .tokenRevoke),
        "POST /v1/connections/{name}/ca": ([.admin], .certificateAuthorityCreate),
        "POST /v1/connections/{name}/ca/rotate": ([.admin], .certificateAuthorityRotate),
        "GET /v1/connections/{name}/ca": ([.admin], .certificateAuthorityShow),
        "POST /v1/connections/{name}/ca/revoke": ([.admin], .certificateAuthorityRevoke),
        "GET /v1/connections/{name}/certificate-settings": ([.admin], .connectionShowCertificates),
        "PATCH /v1/connections/{name}/certificate-settings": ([.admin], .connectionSetCertificates),
        "PATCH /v1/connections/{name}": ([.admin], .connectionSet),
        "PATCH /v1/projects/{name}": ([.admin], .projectSet),
        "POST /v1/projects/{name}/deploy-keys/install": ([.admin], .deployKeyInstall),
        "POST /v1/projects/{name}/deploy-keys/uninstall": ([.admin], .deployKeyUninstall),
        "POST /v1/connections/{name}/verify": ([.admin], .connectionVerify),
        "GET /v1/tokens": ([.admin], .tokenList),
        "POST /v1/connections/{name}/app": ([.admin], .githubAppPut),
        "GET /v1/connections/{name}/app": ([.admin], .githubAppList),
        "POST /v1/connections/{name}/app/revoke": ([.admin], .githubAppRevoke),
        "GET /v1/minted-tokens": ([.admin], .mintedTokenList),
        "GET /v1/intake-key": ([.admin], .intakeKeyShow),
        "POST /v1/projects": ([.admin], .projectAdd),
        "GET /v1/projects": ([.admin], .projectList),
        "GET /v1/projects/{name}": ([.admin], .projectShow),
        "DELETE /v1/projects/{name}": ([.admin], .projectRemove),
        "POST /v1/projects/{name}/deploy-keys": ([.admin], .deployKeyCreate),
        "POST /v1/projects/{name}/deploy-keys/rotate": ([.admin], .deployKeyRotate),
        "GET /v1/projects/{name}/deploy-keys": ([.admin], .deployKeyList),
        "GET /v1/projects/{name}/deploy-keys/{version}": ([.admin], .deployKeyShow),
        "POST /v1/projects/{name}/deploy-keys/revoke": ([.admin], .deployKeyRevoke),
        "POST /v1/master-key/rotate": ([.admin], .masterKeyRotate),
        "POST /v1/master-key/rekey": ([.admin], .masterKeyRekey),
        "POST /v1/sessions": ([.runner], .sessionOpen),
        "GET /v1/sessions": ([.admin], .sessionList),
        "DELETE /v1/sessions/{id}": ([.runner, .admin], .sessionClose),
        "POST /v1/sessions/{id}/revoke": ([.admin], .sessionRevoke),
        "GET /v1/session/deploy-key": ([.build], .secretRelease),
        "GET /v1/session/token": ([.build], .secretRelease),
        "GET /v1/session/ssh-cert": ([.build], .secretRelease),
        "GET /v1/session/repo-token": ([.build], .secretRelease),
        "POST /v1/session/agent": ([.build], .agentOpen),
        "GET /v1/session": ([.build], .sessionShow),
        "GET /v1/audit": ([.auditor], .auditList),
        "GET /v1/audit/export": ([.auditor], .auditExport),
        "GET /v1/audit/public-key": ([.auditor], .auditPublicKey),
        "POST /v1/backup": ([.admin], .storeBackup),
        "GET /v1/metrics": ([.admin, .auditor], .metricsRead),
    ]

    static func key(_ e: Endpoint) -> String { "\(e.method.rawValue) \(e.path)" }

    @Test func everyRouteHasItsRolesAndAction() {
        let table = EndpointTable.endpoints
        #expect(Set(table.map(Self.key)) == Set(Self.expected.keys), "the table and this test list different routes")
        for e in table {
            guard let want = Self.expected[Self.key(e)] else { continue }
            switch e.access {
            case .anyPeerUnaudited: #expect(want.roles == nil, "\(Self.key(e)) is unaudited")
            case .roles(let roles): #expect(roles == want.roles, "\(Self.key(e)) roles")
            }
            #expect(e.action == want.action, "\(Self.key(e)) action")
        }
    }

    @Test func eachMethodAndPathIsListedOnce() {
        let keys = EndpointTable.endpoints.map(Self.key)
        #expect(keys.count == Set(keys).count)
    }

    @Test func onlyHealthIsUnauditedAndOnlyPolicyRolesAreRequired() {
        for e in EndpointTable.endpoints {
            switch e.access {
            case .anyPeerUnaudited: #expect(e.path == "/v1/health")
            case .roles(let roles):
                #expect(!roles.isEmpty && roles.allSatisfy(Role.policyRoles.contains), "\(Self.key(e))")
                #expect(e.action != nil, "\(Self.key(e)) has no audit action")
            }
        }
    }

    @Test func onlyTheTwoReleasesAnswerOnTheEventLoop() {
        let fast = EndpointTable.endpoints.filter(\.hasLoopHandler).map(Self.key).sorted()
        #expect(fast == ["GET /v1/health", "GET /v1/session/deploy-key", "GET /v1/session/token"])
    }

    @Test func everyRefusalCodeIsListedOnceWithAnErrorStatus() {
        let raw = RefusalCode.allCases.map(\.rawValue)
        #expect(raw.count == Set(raw).count)
        for code in RefusalCode.allCases {
            #expect((400...599).contains(code.status), "\(code)")
            #expect(!code.defaultMessage.isEmpty)
        }
    }
}
