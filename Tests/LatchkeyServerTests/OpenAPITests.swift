import Foundation
import LatchkeyServer
import Testing
import Yams

@Suite struct OpenAPITests {
    /// Every served route is in docs/openapi.yaml and every documented operation is served.
    @Test func servedRoutesAndTheDocumentAgree() async throws {
        let d = try await TestDaemon()
        let served = Set(EndpointTable.endpoints.map { "\($0.method.rawValue) \($0.path)" })
        await d.stop()
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/openapi.yaml")
        let doc = try #require(try Yams.load(yaml: String(contentsOf: url, encoding: .utf8)) as? [String: Any])
        let paths = try #require(doc["paths"] as? [String: Any])
        var documented = Set<String>()
        for (path, item) in paths {
            for method in ["get", "post", "put", "delete", "patch"] where (item as? [String: Any])?[method] != nil {
                documented.insert("\(method.uppercased()) \(path)")
            }
        }
        #expect(served.subtracting(documented).isEmpty, "served but not documented: \(served.subtracting(documented).sorted())")
        #expect(documented.subtracting(served).isEmpty, "documented but not served: \(documented.subtracting(served).sorted())")
    }
}
