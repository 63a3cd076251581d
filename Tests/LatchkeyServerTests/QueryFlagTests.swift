import Foundation
import LatchkeyAPI
import LatchkeyClient
import Testing

/// Yes/no query parameters take only the spellings docs/openapi.yaml lists for them: any
/// other value is a 400 naming the parameter, never read as "no" (found by schemathesis).
@Suite(.serialized) struct QueryFlagTests {
    @Test func aFlagOutsideItsDocumentedSpellingsIsRefused() async throws {
        let d = try await TestDaemon()
        try await offPool {
            let c = try d.client()
            for path in ["/v1/minted-tokens?all=AAA", "/v1/minted-tokens?all=yes"] {
                #expect {
                    let _: [MintedTokenInfo] = try c.call("GET", path)
                } throws: { e in
                    guard case ClientError.api(let status, let code, let message) = e else { return false }
                    return status == 400 && code == "invalid" && message.contains("all must be one of 0, 1, false, true")
                }
            }
            for spelling in ["0", "1", "true", "false"] {
                let _: [MintedTokenInfo] = try c.call("GET", "/v1/minted-tokens?all=\(spelling)")
            }
            let _: ConnectionInfo = try c.call("POST", "/v1/connections", body: ConnectionRequest(name: "ghe", kind: "github-enterprise", url: "https://ghe.example.com"))
            let _: ProjectInfo = try c.call("POST", "/v1/projects", body: ProjectRequest(name: "web", connection: "ghe", repo: "acme/web"))
            #expect {
                let _: RemovalResult = try c.call("DELETE", "/v1/projects/web?force=1")
            } throws: { e in
                guard case ClientError.api(let status, _, let message) = e else { return false }
                return status == 400 && message.contains("force must be one of false, true")
            }
            let projects: [ProjectInfo] = try c.call("GET", "/v1/projects")
            #expect(projects.map(\.name) == ["web"], "a refused removal removes nothing")
        }
        await d.stop()
    }
}
