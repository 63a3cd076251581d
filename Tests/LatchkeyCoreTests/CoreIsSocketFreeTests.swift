import Foundation
import Testing

/// The core holds the vault's decisions and opens no socket (issue #15, "The shape"): no
/// module LatchkeyCore uses, directly or through another of our modules, may bring in a
/// socket or TLS library. The SCM wire reaches the core only as an injected
/// `SCMTransportFactory`. Read from Package.swift and the sources, so a new dependency
/// fails here, not in review.
@Suite struct CoreIsSocketFreeTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// Modules that open sockets or speak TLS, and our modules built on them.
    static let socketModules: Set<String> = [
        "AsyncHTTPClient", "NIOPosix", "NIOSSL", "NIOHTTP1", "LatchkeySCMTransport", "LatchkeyServer", "PostgresNIO", "LatchkeyPostgres",
    ]

    /// Each target of Package.swift and what it names as dependencies (targets and products).
    static func targets() throws -> [String: Set<String>] {
        let text = try String(contentsOf: root.appendingPathComponent("Package.swift"), encoding: .utf8)
        let code = text.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("//") }.joined(separator: "\n")
        let declaration = try Regex(#"\.(?:target|testTarget|executableTarget|systemLibrary)\(\s*name:\s*"([A-Za-z0-9_]+)""#)
        let quoted = try Regex(#""([A-Za-z0-9_]+)""#)
        let starts = code.matches(of: declaration)
        var out: [String: Set<String>] = [:]
        for (i, m) in starts.enumerated() {
            let name = String(m.output[1].substring ?? "")
            let end = i + 1 < starts.count ? starts[i + 1].range.lowerBound : code.endIndex
            let body = code[m.range.upperBound..<end]
            out[name] = Set(body.matches(of: quoted).compactMap { $0.output[1].substring.map(String.init) })
        }
        return out
    }

    /// Everything `name` depends on, through our own targets.
    static func closure(of name: String, in targets: [String: Set<String>]) -> Set<String> {
        var seen: Set<String> = []
        var todo = [name]
        while let t = todo.popLast() {
            for d in targets[t] ?? [] where seen.insert(d).inserted {
                if targets[d] != nil { todo.append(d) }
            }
        }
        return seen
    }

    @Test func coreDependsOnNoSocketModuleDirectlyOrThroughAnother() throws {
        let targets = try Self.targets()
        #expect(targets["LatchkeyCore"] != nil, "Package.swift has no LatchkeyCore target")
        let reached = Self.closure(of: "LatchkeyCore", in: targets)
        #expect(reached.contains("LatchkeySCM"), "the core's SCM logic comes from LatchkeySCM")
        #expect(reached.isDisjoint(with: Self.socketModules), "LatchkeyCore reaches \(reached.intersection(Self.socketModules).sorted())")
        #expect(Self.closure(of: "LatchkeySCM", in: targets).isDisjoint(with: Self.socketModules))
    }

    @Test func theTransportModuleIsWhereTheSocketsAre() throws {
        // The parser above sees products: the module that does hold the wire shows them.
        let reached = Self.closure(of: "LatchkeySCMTransport", in: try Self.targets())
        #expect(reached.isSuperset(of: ["AsyncHTTPClient", "NIOSSL", "NIOPosix", "LatchkeySCM"]))
        #expect(Self.closure(of: "LatchkeyServer", in: try Self.targets()).contains("LatchkeySCMTransport"))
    }

    @Test func noCoreOrSCMSourceImportsASocketModule() throws {
        let imports = try Regex(#"^\s*(?:@\w+\s+)*(?:(?:internal|package|public|private|fileprivate)\s+)?import\s+(?:\w+\s+)?([A-Za-z0-9_]+)"#).anchorsMatchLineEndings()
        var offenders: [String] = []
        for module in ["LatchkeyCore", "LatchkeySCM"] {
            let dir = Self.root.appendingPathComponent("Sources/\(module)")
            let files = FileManager.default.enumerator(atPath: dir.path)?.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") } ?? []
            #expect(!files.isEmpty, "no sources under \(dir.path)")
            for file in files {
                let text = try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
                for m in text.matches(of: imports) {
                    let name = String(m.output[1].substring ?? "")
                    if Self.socketModules.contains(name) { offenders.append("\(module)/\(file): import \(name)") }
                }
            }
        }
        #expect(offenders.isEmpty, "\(offenders)")
    }
}
