import Foundation
import LatchkeyPolicy
import Testing

/// Users and groups for tests, without touching the system's databases.
struct FakeResolver: IdentityResolver {
    var users: [String: UserEntry]
    var groups: [String: GroupEntry]

    func user(named name: String) -> UserEntry? { users[name] }
    func group(named name: String) -> GroupEntry? { groups[name] }
    func allUsers() -> [UserEntry] { Array(users.values) }

    /// alice (1100) is listed in ci-admins (gid 3000); auditor (1200) is in security
    /// (1300) only by having it as primary group, as /etc/group often leaves it;
    /// ci-runner 1001, build 2001; runners (gid 4000) lists ci-runner and mac-runner (1002).
    static let standard = FakeResolver(
        users: [
            "alice": UserEntry(uid: 1100, primaryGID: 1100),
            "auditor": UserEntry(uid: 1200, primaryGID: 1300),
            "ci-runner": UserEntry(uid: 1001, primaryGID: 1001),
            "mac-runner": UserEntry(uid: 1002, primaryGID: 1002),
            "build": UserEntry(uid: 2001, primaryGID: 2001),
        ],
        groups: [
            "ci-admins": GroupEntry(gid: 3000, memberUIDs: [1100]),
            "security": GroupEntry(gid: 1300, memberUIDs: []),
            "runners": GroupEntry(gid: 4000, memberUIDs: [1001, 1002]),
            "builders": GroupEntry(gid: 5000, memberUIDs: [2001]),
        ])
}

/// The uid tests pass as the daemon's.
let testDaemonUID: UInt32 = 900

/// A temporary policy directory (mode 0755) with files (mode 0644), removed by `remove()`.
struct PolicyFixture {
    let path: String

    init(_ files: [String: String]) {
        let template = NSTemporaryDirectory() + "lk-policy-XXXXXX"
        var bytes = Array(template.utf8CString)
        path = bytes.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        chmod(path, 0o755)
        for (name, text) in files { write(name, text) }
    }

    func write(_ name: String, _ text: String, mode: mode_t = 0o644) {
        write(name, bytes: Array(text.utf8), mode: mode)
    }

    func write(_ name: String, bytes: [UInt8], mode: mode_t = 0o644) {
        let file = path + "/" + name
        let created = FileManager.default.createFile(atPath: file, contents: Data(bytes))
        precondition(created, "cannot write \(file)")
        chmod(file, mode)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }

    func load(resolver: some IdentityResolver = FakeResolver.standard, daemonUID: UInt32 = testDaemonUID) throws(PolicyError) -> Policy {
        try Policy.load(directory: path, daemonUID: daemonUID, resolver: resolver)
    }

    /// Loads, expecting a refusal; returns it (or nil after recording an issue).
    func refusal(
        resolver: some IdentityResolver = FakeResolver.standard, daemonUID: UInt32 = testDaemonUID,
        sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) -> PolicyError? {
        do {
            _ = try load(resolver: resolver, daemonUID: daemonUID)
            Issue.record("the policy was accepted", sourceLocation: sourceLocation)
            return nil
        } catch {
            return error
        }
    }
}

/// The 1-based line of the first line containing `marker`.
func line(of marker: String, in text: String) -> Int {
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    return (lines.firstIndex { $0.contains(marker) } ?? -1) + 1
}

/// A valid policy in one file, to break one piece at a time.
let validPolicy = """
    version: 1
    admins: { groups: [ci-admins], uids: [1000] }
    auditors: { groups: [security] }
    runners:
      - name: linux-runners
        who: { users: [ci-runner] }
        projects: ["web-*", api]
        grants: [deploy-key, token]
        max_ttl: 30m
        max_uses: 10
        builds: { users: [build], uids: [2500] }
    """

/// The repository's Policies/ directory.
let shippedPolicies = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Policies").path
