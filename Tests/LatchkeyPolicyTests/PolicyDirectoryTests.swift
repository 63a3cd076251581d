import Foundation
import LatchkeyPolicy
import Testing

@Suite struct PolicyDirectoryTests {
    @Test func aMissingDirectoryIsRefused() throws {
        let error = try #require(throws: PolicyError.self) {
            try Policy.load(directory: "/nonexistent/policies", daemonUID: 0, resolver: FakeResolver.standard)
        }
        #expect(error.code == "policy_dir_unreadable")
        #expect(error.file == "/nonexistent/policies")
        #expect(error.line == nil)
        #expect(error.description == "/nonexistent/policies: cannot read the policy directory: No such file or directory")
    }

    @Test func aDirectoryWithoutPolicyFilesIsRefused() throws {
        let dir = PolicyFixture(["README.md": "# policies", "production.yaml.example": validPolicy])
        defer { dir.remove() }
        let error = try #require(dir.refusal())
        #expect(error.code == "policy_no_files")
        #expect(error.file == dir.path)
        #expect(error.reason.contains("everything is denied"))
    }

    @Test(arguments: [0o664, 0o646, 0o666] as [mode_t])
    func aFileOthersCanWriteIsRefusedWithTheFix(mode: mode_t) throws {
        let dir = PolicyFixture([:])
        defer { dir.remove() }
        dir.write("x.yaml", validPolicy, mode: mode)
        let error = try #require(dir.refusal())
        #expect(error.code == "policy_unsafe_permissions")
        #expect(error.file == dir.path + "/x.yaml")
        #expect(error.reason.contains("`chmod go-w \(dir.path)/x.yaml`"), "\(error.reason)")
    }

    @Test func aDirectoryOthersCanWriteIsRefused() throws {
        let dir = PolicyFixture(["x.yaml": validPolicy])
        defer { dir.remove() }
        chmod(dir.path, 0o1777)
        let error = try #require(dir.refusal())
        #expect(error.code == "policy_unsafe_permissions")
        #expect(error.file == dir.path)
        #expect(error.reason.contains("chmod go-w"))
    }

    /// Whoever can write a directory above the policy directory can swap it for their own.
    @Test(.enabled(if: getuid() == 0)) func aParentDirectoryOfAnotherUserOrWritableByOthersIsRefused() throws {
        let outer = PolicyFixture([:])
        defer { outer.remove() }
        let inner = outer.path + "/policies"
        mkdir(inner, 0o755)
        try validPolicy.write(toFile: inner + "/x.yaml", atomically: true, encoding: .utf8)
        #expect(throws: Never.self) { try Policy.load(directory: inner, daemonUID: 0, resolver: FakeResolver.standard) }
        #expect(chown(outer.path, 4242, 4242) == 0)
        let foreign = try #require(throws: PolicyError.self) { try Policy.load(directory: inner, daemonUID: 0, resolver: FakeResolver.standard) }
        #expect(foreign.code == "policy_unsafe_permissions" && foreign.file == outer.path && foreign.reason.contains("uid 4242"), "\(foreign)")
        #expect(chown(outer.path, 0, 0) == 0)
        chmod(outer.path, 0o777)
        let open = try #require(throws: PolicyError.self) { try Policy.load(directory: inner, daemonUID: 0, resolver: FakeResolver.standard) }
        #expect(open.file == outer.path && open.reason.contains("writable by others"), "\(open)")
        chmod(outer.path, 0o755)
    }

    /// Tests run as root, so they can hand a file to another user.
    @Test(.enabled(if: getuid() == 0)) func aFileOwnedBySomeoneElseIsRefused() throws {
        let dir = PolicyFixture(["x.yaml": validPolicy])
        defer { dir.remove() }
        #expect(chown(dir.path + "/x.yaml", 4242, 4242) == 0)
        let error = try #require(dir.refusal(daemonUID: 1000))
        #expect(error.code == "policy_unsafe_permissions")
        #expect(error.reason.contains("belongs to uid 4242"))
        #expect(error.reason.contains("`chown 1000 \(dir.path)/x.yaml`"))
        // The daemon's own files are fine.
        #expect(throws: Never.self) { try dir.load(daemonUID: 4242) }
    }

    @Test func aFileOverTheSizeLimitIsRefusedBeforeParsing() throws {
        let dir = PolicyFixture([:])
        defer { dir.remove() }
        dir.write("x.yaml", validPolicy + "\n#" + String(repeating: "x", count: PolicyLimits.maxFileBytes))
        let error = try #require(dir.refusal())
        #expect(error.code == "policy_too_large")
        #expect(error.line == nil)
    }

    @Test func aFIFONamedLikeAPolicyIsRefusedWithoutBlocking() throws {
        let dir = PolicyFixture(["a.yaml": validPolicy])
        defer { dir.remove() }
        #expect(mkfifo(dir.path + "/b.yaml", 0o644) == 0)
        let error = try #require(dir.refusal())
        #expect(error.code == "policy_file_unreadable")
        #expect(error.reason == "not a regular file")
    }

    @Test func aFailedLoadChangesNothingAndTheOldPolicyStaysUsable() throws {
        let dir = PolicyFixture(["x.yaml": validPolicy])
        defer { dir.remove() }
        let before = try dir.load()
        let runner = PeerIdentity(uid: 1001, gid: 1001, pid: 1)

        dir.write("y.yaml", "version: 1\nadmins: { users: [nobody-here] }\n")
        let listing = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        let error = try #require(dir.refusal())
        #expect(error.code == "policy_unknown_user")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == listing)
        #expect(before.runnerRule(for: runner, project: "api")?.maxUses == 10)

        dir.write("y.yaml", "version: 1\nadmins: { users: [build] }\n")
        dir.write("x.yaml", validPolicy.replacingOccurrences(of: "max_uses: 10", with: "max_uses: 3"))
        let after = try dir.load()
        #expect(after.runnerRule(for: runner, project: "api")?.maxUses == 3)
        #expect(after.isAdmin(PeerIdentity(uid: 2001, gid: 2001, pid: 1)))
        #expect(before.runnerRule(for: runner, project: "api")?.maxUses == 10)
        #expect(!before.isAdmin(PeerIdentity(uid: 2001, gid: 2001, pid: 1)))
    }
}
