import Foundation
import LatchkeyCrypto
import LatchkeySCM
import LatchkeySCMTransport
import SCMFakes
import LatchkeyTestSupport

/// A fake server with its PKI, a user and a repository, and a client that trusts it.
struct Bed {
    static let token = "lk-test-token-4f9a0c2e7d1b8a6f3e5c9d0b"
    let pki: TestPKI
    let fake: FakeSCMServer
    let kind: SCMServerKind

    static func repository(_ kind: SCMServerKind) -> String {
        switch kind {
        case .githubEnterprise: "acme/web"
        case .gitlab: "acme/platform/web"
        case .bitbucketServer: "ACME/web"
        }
    }

    var repository: String { Self.repository(kind) }

    static func scopes(_ kind: SCMServerKind) -> [String]? {
        switch kind {
        case .githubEnterprise: ["repo", "admin:repo_hook"]
        case .gitlab: ["api", "read_repository"]
        case .bitbucketServer: nil
        }
    }

    static func start(_ kind: SCMServerKind, scopes: [String]?? = nil, expiresAt: String? = nil, admin: Bool = true) async throws -> Bed {
        let pki = try TestPKI.make()
        let fake = try await FakeSCMServer.start(kind: FakeKind(rawValue: kind.rawValue)!, certificate: try pki.serverCertificate())
        fake.addUser("ci-bot", token: token, scopes: scopes ?? Self.scopes(kind), expiresAt: expiresAt)
        fake.addRepository(repository(kind), admins: admin ? ["ci-bot"] : [], readers: admin ? [] : ["ci-bot"])
        return Bed(pki: pki, fake: fake, kind: kind)
    }

    func connection(caFile: String?? = nil) -> SCMConnection {
        SCMConnection(name: "scm1", kind: kind, apiURL: fake.apiURL, caFile: caFile ?? pki.caCertificate)
    }

    func client(_ settings: SCMClientSettings = Bed.fastSettings, observer: (any SCMRequestObserver)? = nil, caFile: String?? = nil) throws
        -> SCMClient
    {
        try SCMClient(connection: connection(caFile: caFile), settings: settings, observer: observer)
    }

    func adapter(_ settings: SCMClientSettings = Bed.fastSettings, observer: (any SCMRequestObserver)? = nil) throws -> any SCMServerAdapter {
        SCMAdapters.make(for: try client(settings, observer: observer))
    }

    static var fastSettings: SCMClientSettings {
        var s = SCMClientSettings()
        s.backoffBase = .milliseconds(20)
        s.backoffCap = .milliseconds(100)
        s.requestTimeout = .seconds(5)
        s.proxy = .none
        return s
    }

    static func secret(_ text: String) throws -> SecretBytes {
        var bytes = Array(text.utf8)
        return try SecretBytes(consuming: &bytes)
    }

    func stop() async {
        await fake.stop()
        pki.remove()
    }
}

/// Collects the observer's records.
final class Recorder: SCMRequestObserver, @unchecked Sendable {
    private let lock = NSLock()
    private var _records: [SCMRequestRecord] = []
    var records: [SCMRequestRecord] { lock.withLock { _records } }
    func requestFinished(_ record: SCMRequestRecord) async { lock.withLock { _records.append(record) } }
}

/// A fresh public key line from ssh-keygen.
func makePublicKey(type: String = "ed25519") throws -> String {
    let dir = NSTemporaryDirectory() + "lk-key-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let r = runCaptured(["ssh-keygen", "-q", "-t", type, "-N", "", "-C", "test", "-f", dir + "/k"])
    guard r.status == 0 else { throw SCMError(.configuration, "ssh-keygen failed") }
    return try String(contentsOfFile: dir + "/k.pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
}
