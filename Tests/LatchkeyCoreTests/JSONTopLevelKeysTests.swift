import Foundation
import Testing

@testable import LatchkeyCore

/// `checkFields` reads a body's top-level keys in one pass before the body is decoded
/// (unknown fields and `null` values are refused: `{"version": null}` must never mean
/// "every version"). The one-pass reader must agree with Foundation's parser whenever it
/// answers, and hand anything it is unsure of to that parser.
@Suite struct JSONTopLevelKeysTests {
    static func scan(_ text: String) -> [(key: String, isNull: Bool)]? {
        Array(text.utf8).withUnsafeBytes { JSONTopLevelKeys.scan($0) }
    }

    /// Foundation's reading of the same bytes: keys and which are null, or nil when it is
    /// not one JSON object.
    static func reference(_ bytes: [UInt8]) -> [String: Bool]? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]) as? [String: Any] else { return nil }
        return object.mapValues { $0 is NSNull }
    }

    static func agree(_ bytes: [UInt8]) -> Bool {
        guard let keys = bytes.withUnsafeBytes({ JSONTopLevelKeys.scan($0) }) else { return true }  // unsure: the full parser decides
        guard let ref = reference(bytes) else {
            // Only values are skipped without validation; the decoder that follows refuses them.
            return true
        }
        return Dictionary(keys.map { ($0.key, $0.isNull) }, uniquingKeysWith: { a, _ in a }) == ref && keys.count == ref.count
    }

    @Test func plainBodiesAreRead() throws {
        let keys = try #require(Self.scan(#" { "project" : "web", "grants":["token","deploy-key"], "ttlSeconds": 600, "x": {"a": [1, {"b": null}]}, "v": null } "#))
        #expect(keys.map(\.key) == ["project", "grants", "ttlSeconds", "x", "v"])
        #expect(keys.map(\.isNull) == [false, false, false, false, true])
        #expect(try #require(Self.scan("{}")).isEmpty)
        #expect(try #require(Self.scan(#"{"s": "a \"quoted\" }{ string\\"}"#)).map(\.key) == ["s"])
        #expect(try #require(Self.scan(#"{"n": nullx}"#)).map(\.isNull) == [false])  // not the null literal
    }

    @Test func whatItIsUnsureOfGoesToTheFullParser() {
        for text in [
            "", " ", "[]", "null", "\"x\"", "1", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{\"a\":1 \"b\":2}", "{\"a\":1}x",
            "{\"a\":1}{}", "{a:1}", "{\"a\":\"unterminated}", "{\"a\":[1,2}", "{\"\\u0076ersion\": null}",  // an escaped key
            "{\"a\":1,\"a\":null}",  // a key twice
            "{\"a\":\"line\nbreak\"}",  // a raw control character in a string
            "\u{FEFF}{}", "{\"a\":" + String(repeating: "[", count: 65) + String(repeating: "]", count: 65) + "}",
        ] {
            #expect(Self.scan(text) == nil, "\(text.debugDescription)")
        }
    }

    @Test func itAgreesWithFoundationOnGeneratedAndMutatedBodies() {
        var rng = SystemRandomNumberGenerator()
        let values = ["null", "1", "-2.5e3", "true", "false", "\"s\"", "\"\\\"\"", "[]", "{}", "[null,{\"k\":null}]", "{\"in\":\"}\"}", "\"\\u0000\""]
        let keys = ["project", "version", "grants", "a b", "é", "", "k\"q"]
        for _ in 0..<2000 {
            let count = Int.random(in: 0...5, using: &rng)
            let members = (0..<count).map { _ -> String in
                let key = keys.randomElement(using: &rng)!.replacingOccurrences(of: "\"", with: "\\\"")
                return "\"\(key)\"\(Bool.random(using: &rng) ? " " : ""):\(values.randomElement(using: &rng)!)"
            }
            var bytes = Array("{\(members.joined(separator: ","))}".utf8)
            #expect(Self.agree(bytes), "\(String(decoding: bytes, as: UTF8.self).debugDescription)")
            for _ in 0..<3 {
                guard !bytes.isEmpty else { break }
                let at = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: bytes[at] = Array("{}[]\",: \\nul0".utf8).randomElement(using: &rng)!
                case 1: bytes.remove(at: at)
                default: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: at)
                }
                #expect(Self.agree(bytes), "\(bytes)")
            }
        }
    }
}
