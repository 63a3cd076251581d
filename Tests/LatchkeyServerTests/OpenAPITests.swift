import Foundation
import LatchkeyAPI
import LatchkeyAudit
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

/// The lists the code keeps once — refusal codes, audit actions, request fields — held
/// against the documents a client is written from.
@Suite struct CodeListDocumentTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func openAPI() throws -> [String: Any] {
        let text = try String(contentsOf: root.appendingPathComponent("docs/openapi.yaml"), encoding: .utf8)
        return try #require(try Yams.load(yaml: text) as? [String: Any])
    }

    static func schema(_ name: String) throws -> [String: Any] {
        let components = try #require(try openAPI()["components"] as? [String: Any])
        let schemas = try #require(components["schemas"] as? [String: Any])
        return try #require(schemas[name] as? [String: Any], "no schema \(name)")
    }

    @Test func everyRefusalCodeIsTheDocumentsErrorCodeEnum() throws {
        let documented = try #require(try Self.schema("ErrorCode")["enum"] as? [String])
        #expect(documented == RefusalCode.allCases.map(\.rawValue))
    }

    @Test func everyAuditActionIsInTheDocumentAndInAuditMd() throws {
        let documented = try #require(try Self.schema("AuditAction")["enum"] as? [String])
        #expect(documented == AuditAction.allCases.map(\.rawValue))
        let audit = try String(contentsOf: Self.root.appendingPathComponent("docs/AUDIT.md"), encoding: .utf8)
        let rows = audit.split(separator: "\n").filter { $0.hasPrefix("| `") && $0.contains(".") }
            .compactMap { $0.split(separator: "`").dropFirst().first.map(String.init) }
            .filter { $0.contains(".") && !$0.contains("_") && !$0.contains(" ") }
        #expect(Set(rows) == Set(AuditAction.allCases.map(\.rawValue)), "docs/AUDIT.md's action table")
        for code in RefusalCode.allCases {
            #expect(audit.contains("`\(code.rawValue)`"), "docs/AUDIT.md does not list reason code \(code.rawValue)")
        }
    }

    @Test func everyRequestBodyDocumentsExactlyItsFieldsAndNoOthers() throws {
        let bodies: [(String, Set<String>)] = [
            ("ConnectionRequest", ConnectionRequest.fields), ("ProjectRequest", ProjectRequest.fields),
            ("DeployKeyRequest", DeployKeyRequest.fields), ("RevokeRequest", RevokeRequest.fields),
            ("TokenRevokeRequest", TokenRevokeRequest.fields), ("TokenPutRequest", TokenPutRequest.fields),
            ("SessionOpenRequest", SessionOpenRequest.fields), ("MasterKeyRekeyRequest", MasterKeyRekeyRequest.fields),
            ("ConnectionUpdateRequest", ConnectionUpdateRequest.fields), ("ProjectUpdateRequest", ProjectUpdateRequest.fields),
            ("CertificateAuthorityRequest", CertificateAuthorityRequest.fields), ("CertificateSettingsRequest", CertificateSettingsRequest.fields),
            ("GitHubAppPutRequest", GitHubAppPutRequest.fields),
        ]
        #expect(Set(bodies.map(\.0)) == Set(EndpointTable.endpoints.map(\.requestType).filter { $0 != "NoBody" }))
        for (name, fields) in bodies {
            let s = try Self.schema(name)
            let properties = try #require(s["properties"] as? [String: Any])
            #expect(Set(properties.keys) == fields, "\(name)")
            #expect(s["additionalProperties"] as? Bool == false, "\(name) must refuse unknown fields in the document too")
        }
    }

    @Test func theConnectionURLPatternsAreTheDocumentsPatterns() throws {
        #expect(try Self.schema("HTTPSURL")["pattern"] as? String == ConnectionURLPattern.https)
        let connection = try #require(try Self.schema("ConnectionRequest")["properties"] as? [String: Any])
        #expect((connection["sshUrl"] as? [String: Any])?["pattern"] as? String == ConnectionURLPattern.ssh)
    }

    @Test func everyAnswerTypeIsADocumentedSchema() throws {
        let components = try #require(try Self.openAPI()["components"] as? [String: Any])
        let schemas = try #require(components["schemas"] as? [String: Any])
        let aliases = ["HealthResponse": "Health", "IntakeKey": "PublicKey", "AuditPublicKey": "PublicKey", "[AuditRow]": "AuditRow", "NDJSON": nil]
        for e in EndpointTable.endpoints {
            var name = e.responseType
            if name.hasPrefix("Array<") { name = String(name.dropFirst(6).dropLast()) }
            if let alias = aliases[name] { guard let alias else { continue }; name = alias }
            #expect(schemas[name] != nil, "\(e.method.rawValue) \(e.path) answers \(e.responseType), not in docs/openapi.yaml")
        }
    }
}
