import Foundation
import LatchkeyTestSupport
import Testing

/// The runner recipes in integrations/, each run the way its runner runs it — the
/// scripts and hooks with the environment that runner documents — against a real daemon,
/// an sshd with a bare repository, git and the latchkey binary. Each must open a session,
/// hand the job a token file with which `latchkey exec` clones, and close the session,
/// also when the job fails.
@Suite(.serialized) struct IntegrationTests {
    static let integrations = OperationsTests.repository + "/integrations"

    struct Setup {
        let daemon: DaemonProcess
        let sshd: SSHServer
        let work: String
        /// The runner's environment: its HOME, where latchkey and the daemon are.
        let env: [String: String]
    }

    func setUp() throws -> Setup {
        let d = try DaemonProcess()
        let sshd = try SSHServer()
        #expect(d.cli(["connection", "add", "local", "--kind", "gitlab", "--url", "https://git.example.com", "--ssh-url", "ssh://127.0.0.1:\(sshd.port)"]).status == 0)
        #expect(d.cli(["project", "add", "web", "--connection", "local", "--repo", "acme/web"]).status == 0)
        let key = d.cli(["deploy-key", "create", "web", "--json"])
        let info = try JSONSerialization.jsonObject(with: Data(key.out.utf8)) as! [String: Any]
        try sshd.authorize(info["publicKey"] as! String)
        let work = makeTempDirectory("runner")
        mkdir(work + "/home", 0o700)
        mkdir(work + "/home/.ssh", 0o700)
        let env = [
            "HOME": work + "/home", "LATCHKEY_BIN": latchkeyBinary, "LATCHKEY_SOCKET": d.socket,
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
        ]
        return Setup(daemon: d, sshd: sshd, work: work, env: env)
    }

    /// Live sessions, as an admin lists them.
    func liveSessions(_ d: DaemonProcess) throws -> [[String: Any]] {
        let list = d.cli(["session", "list", "--json"])
        return try JSONSerialization.jsonObject(with: Data(list.out.utf8)) as? [[String: Any]] ?? []
    }

    /// A job's command: clone the project's repository with what exec set up.
    func cloneCommand(_ s: Setup, into dest: String) -> String {
        "git clone -q \(s.sshd.url) \(dest) && test -f \(dest)/README"
    }

    /// Nothing the runner wrote where a job or a log could see it holds a token.
    func expectNoToken(in texts: [String], _ where_: String) {
        for t in texts { #expect(!t.contains("lks_"), "a session token leaked into \(where_)") }
    }

    /// Lines `KEY=VALUE` of an environment file (GITHUB_ENV).
    func environmentFile(_ path: String) -> [String: String] {
        var out: [String: String] = [:]
        for line in ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            out[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        return out
    }

    func closedRows(_ d: DaemonProcess) -> Int {
        let rows = d.cli(["audit", "list", "--action", "session.close", "--outcome", "granted", "--json"])
        return (try? JSONSerialization.jsonObject(with: Data(rows.out.utf8)) as? [Any])?.count ?? 0
    }

    // MARK: GitHub Actions

    func githubJob(_ s: Setup, run: Int, job: String) -> [String: String] {
        var env = s.env
        let githubEnv = s.work + "/github_env_\(run)"
        FileManager.default.createFile(atPath: githubEnv, contents: nil)
        for (k, v) in [
            "GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "acme/web", "GITHUB_RUN_ID": String(run), "GITHUB_RUN_ATTEMPT": "1",
            "GITHUB_JOB": job, "GITHUB_ENV": githubEnv, "GITHUB_WORKSPACE": s.work + "/_work/web/web", "RUNNER_NAME": "build-host-1",
            "RUNNER_TEMP": s.work + "/_work/_temp", "RUNNER_OS": "Linux",
        ] { env[k] = v }
        return env
    }

    @Test func githubActionsHooksOpenHandOverAndClose() throws {
        let s = try setUp()
        let env = githubJob(s, run: 1001, job: "build")
        let started = sh(["bash", "-e", Self.integrations + "/github-actions/job-started.sh"], env: env)
        #expect(started.status == 0, "\(started.err)")
        let live = try liveSessions(s.daemon)
        #expect(live.count == 1 && (live.first?["build"] as? String) == "github:acme/web#1001.1/build", "\(live)")
        // The job's steps get the path of a token file, never the token.
        let exported = environmentFile(env["GITHUB_ENV"]!)
        let file = try #require(exported["LATCHKEY_SESSION_FILE"])
        expectNoToken(in: [started.out, started.err, (try? String(contentsOfFile: env["GITHUB_ENV"]!, encoding: .utf8)) ?? ""], "the hook's output or GITHUB_ENV")
        var st = stat()
        #expect(stat(file, &st) == 0 && st.st_mode & 0o077 == 0)
        // A step, as the runner runs it: the job's environment plus GITHUB_ENV.
        var stepEnv = env
        stepEnv.merge(exported) { _, new in new }
        let dest = s.work + "/clone"
        let step = sh(["bash", "-e", "-c", #"latchkey_bin() { "$LATCHKEY_BIN" "$@"; }; latchkey_bin exec --session-file "$LATCHKEY_SESSION_FILE" -- sh -c "$0""#, cloneCommand(s, into: dest)], env: stepEnv)
        #expect(step.status == 0, "\(step.err)")
        let completed = sh(["bash", "-e", Self.integrations + "/github-actions/job-completed.sh"], env: env)
        #expect(completed.status == 0, "\(completed.err)")
        #expect(try liveSessions(s.daemon).isEmpty)
        #expect(closedRows(s.daemon) == 1)
        #expect(!FileManager.default.fileExists(atPath: s.env["HOME"]! + "/.latchkey-runner/github-build-host-1"))
    }

    @Test func githubActionsClosesTheSessionOfAFailedJob() throws {
        let s = try setUp()
        let env = githubJob(s, run: 1002, job: "test")
        #expect(sh(["bash", "-e", Self.integrations + "/github-actions/job-started.sh"], env: env).status == 0)
        var stepEnv = env
        stepEnv.merge(environmentFile(env["GITHUB_ENV"]!)) { _, new in new }
        let step = sh(["bash", "-e", "-c", #""$LATCHKEY_BIN" exec --session-file "$LATCHKEY_SESSION_FILE" -- sh -c 'exit 3'"#], env: stepEnv)
        #expect(step.status == 3)
        #expect(try liveSessions(s.daemon).count == 1)
        #expect(sh(["bash", "-e", Self.integrations + "/github-actions/job-completed.sh"], env: env).status == 0)
        #expect(try liveSessions(s.daemon).isEmpty)
        // A job that never started its steps still has its session closed.
        let again = githubJob(s, run: 1003, job: "lint")
        #expect(sh(["bash", "-e", Self.integrations + "/github-actions/job-started.sh"], env: again).status == 0)
        #expect(sh(["bash", "-e", Self.integrations + "/github-actions/job-completed.sh"], env: again).status == 0)
        #expect(try liveSessions(s.daemon).isEmpty)
    }

    @Test func githubActionsRefusesToStartAJobWhenNoSessionOpens() throws {
        let s = try setUp()
        var env = githubJob(s, run: 1004, job: "build")
        env["LATCHKEY_PROJECT"] = "no-such-project"
        let started = sh(["bash", "-e", Self.integrations + "/github-actions/job-started.sh"], env: env)
        #expect(started.status != 0)
        #expect(environmentFile(env["GITHUB_ENV"]!)["LATCHKEY_SESSION_FILE"] == nil)
    }

    // MARK: GitLab Runner (custom executor)

    func gitlabJob(_ s: Setup, job: Int) -> [String: String] {
        var env = s.env
        for (k, v) in [
            "CUSTOM_ENV_CI": "true", "CUSTOM_ENV_CI_JOB_ID": String(job), "CUSTOM_ENV_CI_PIPELINE_ID": "77",
            "CUSTOM_ENV_CI_PROJECT_NAME": "web", "CUSTOM_ENV_CI_PROJECT_PATH": "acme/web", "CUSTOM_ENV_CI_JOB_NAME": "build",
            "BUILD_FAILURE_EXIT_CODE": "1", "SYSTEM_FAILURE_EXIT_CODE": "2",
        ] { env[k] = v }
        return env
    }

    /// The runner writes each stage's script to a file and calls run_exec with it.
    func stageScript(_ s: Setup, _ name: String, _ body: String) throws -> String {
        let path = s.work + "/\(name).sh"
        try "#!/usr/bin/env bash\nset -eo pipefail\n\(body)\n".write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func gitlabCustomExecutorOpensHandsOverAndCloses() throws {
        let s = try setUp()
        let env = gitlabJob(s, job: 501)
        let g = Self.integrations + "/gitlab"
        let prepare = sh([g + "/prepare.sh"], env: env)
        #expect(prepare.status == 0, "\(prepare.err)")
        #expect((try liveSessions(s.daemon).first?["build"] as? String) == "gitlab:acme/web#77/501")
        // get_sources runs without the session; step_script with it.
        let sources = sh([g + "/run.sh", try stageScript(s, "get_sources", "test -z \"${LATCHKEY_DEPLOY_KEY:-}\""), "get_sources"], env: env)
        #expect(sources.status == 0, "\(sources.err)")
        let dest = s.work + "/clone"
        let step = sh([g + "/run.sh", try stageScript(s, "step_script", cloneCommand(s, into: dest)), "step_script"], env: env)
        #expect(step.status == 0, "\(step.out)\(step.err)")
        // A second stage that needs it gets a fresh token file of its own.
        let after = sh([g + "/run.sh", try stageScript(s, "build_script", "test -r \"$LATCHKEY_DEPLOY_KEY\""), "build_script"], env: env)
        #expect(after.status == 0, "\(after.err)")
        expectNoToken(in: [prepare.out, prepare.err, sources.out, step.out, step.err, after.out], "the job log")
        let cleanup = sh([g + "/cleanup.sh"], env: env)
        #expect(cleanup.status == 0, "\(cleanup.err)")
        #expect(try liveSessions(s.daemon).isEmpty)
        #expect(closedRows(s.daemon) == 1)
    }

    @Test func gitlabCustomExecutorClosesTheSessionOfAFailedJob() throws {
        let s = try setUp()
        let env = gitlabJob(s, job: 502)
        let g = Self.integrations + "/gitlab"
        #expect(sh([g + "/prepare.sh"], env: env).status == 0)
        let step = sh([g + "/run.sh", try stageScript(s, "step_script", "exit 7"), "step_script"], env: env)
        #expect(step.status == 1, "BUILD_FAILURE_EXIT_CODE expected, got \(step.status)")
        #expect(sh([g + "/cleanup.sh"], env: env).status == 0)
        #expect(try liveSessions(s.daemon).isEmpty)
        // A prepare that cannot open a session is a system failure.
        var bad = gitlabJob(s, job: 503)
        bad["LATCHKEY_PROJECT"] = "no-such-project"
        #expect(sh([g + "/prepare.sh"], env: bad).status == 2)
    }

    // MARK: Buildkite

    func buildkiteJob(_ s: Setup, job: String) -> [String: String] {
        var env = s.env
        for (k, v) in [
            "BUILDKITE": "true", "BUILDKITE_JOB_ID": job, "BUILDKITE_PIPELINE_SLUG": "web", "BUILDKITE_BUILD_NUMBER": "42",
            "BUILDKITE_ORGANIZATION_SLUG": "acme", "BUILDKITE_AGENT_NAME": "build-host-1",
        ] { env[k] = v }
        return env
    }

    /// What the agent does with its hooks: source `environment` (its exports reach the
    /// command), run the command, export its status, source `pre-exit`.
    func runBuildkiteJob(_ s: Setup, _ env: [String: String], command: String) -> ToolResult {
        var e = env
        e["BUILDKITE_COMMAND"] = command
        let hooks = Self.integrations + "/buildkite/hooks"
        let bootstrap = """
            . \(hooks)/environment || exit 1
            bash -c "$BUILDKITE_COMMAND"
            export BUILDKITE_COMMAND_EXIT_STATUS=$?
            . \(hooks)/pre-exit
            exit "$BUILDKITE_COMMAND_EXIT_STATUS"
            """
        return sh(["bash", "-c", bootstrap], env: e)
    }

    @Test func buildkiteHooksOpenHandOverAndClose() throws {
        let s = try setUp()
        let dest = s.work + "/clone"
        let command = #"test -f "$LATCHKEY_SESSION_FILE" && "$LATCHKEY_BIN" exec --session-file "$LATCHKEY_SESSION_FILE" -- sh -c '"# + cloneCommand(s, into: dest) + "'; "
            + #""$LATCHKEY_BIN" session list --json | grep -q '"build" : "buildkite:web#42/0190-job-a"'"#
        let r = runBuildkiteJob(s, buildkiteJob(s, job: "0190-job-a"), command: command)
        #expect(r.status == 0, "\(r.out)\(r.err)")
        #expect(FileManager.default.fileExists(atPath: dest + "/README"))
        expectNoToken(in: [r.out, r.err], "the job log")
        #expect(try liveSessions(s.daemon).isEmpty)
        #expect(closedRows(s.daemon) == 1)
    }

    @Test func buildkiteClosesTheSessionOfAFailedJob() throws {
        let s = try setUp()
        let r = runBuildkiteJob(s, buildkiteJob(s, job: "0190-job-b"), command: "exit 5")
        #expect(r.status == 5)
        #expect(try liveSessions(s.daemon).isEmpty)
        #expect(closedRows(s.daemon) == 1)
    }

    // MARK: Jenkins

    func jenkinsJob(_ s: Setup, build: Int) -> [String: String] {
        var env = s.env
        for (k, v) in [
            "JENKINS_URL": "https://jenkins.example.com/", "JOB_NAME": "acme/web", "JOB_BASE_NAME": "web", "BUILD_NUMBER": String(build),
            "BUILD_TAG": "jenkins-acme-web-\(build)", "WORKSPACE": s.work, "WORKSPACE_TMP": s.work + "@tmp",
        ] { env[k] = v }
        mkdir(s.work + "@tmp", 0o700)
        return env
    }

    @Test func jenkinsShellStepOpensHandsOverAndCloses() throws {
        let s = try setUp()
        let dest = s.work + "/clone"
        let r = sh([Self.integrations + "/jenkins/with-latchkey", "--", "sh", "-c", cloneCommand(s, into: dest)], env: jenkinsJob(s, build: 9))
        #expect(r.status == 0, "\(r.err)")
        #expect(FileManager.default.fileExists(atPath: dest + "/README"))
        expectNoToken(in: [r.out, r.err], "the console log")
        #expect(try liveSessions(s.daemon).isEmpty)
        #expect(closedRows(s.daemon) == 1)
        let opened = s.daemon.cli(["audit", "list", "--action", "session.open", "--json"])
        #expect(opened.out.contains("\"project\" : \"web\""), "\(opened.out)")
    }

    @Test func jenkinsClosesTheSessionOfAFailedOrAbortedStep() throws {
        let s = try setUp()
        let failed = sh([Self.integrations + "/jenkins/with-latchkey", "--", "sh", "-c", "exit 4"], env: jenkinsJob(s, build: 10))
        #expect(failed.status == 4)
        #expect(try liveSessions(s.daemon).isEmpty)
        // Aborted: Jenkins sends SIGTERM; the step ends and its session is closed.
        var env = ProcessInfo.processInfo.environment
        env.merge(jenkinsJob(s, build: 11)) { _, new in new }
        let log = s.work + "/aborted.log"
        // (The test process may ignore SIGTERM, and an ignored signal is inherited and cannot
        // be trapped: env resets it to the default, as a Jenkins agent's shell has it.)
        guard let pid = spawn(
            ["env", "--default-signal=TERM,INT", Self.integrations + "/jenkins/with-latchkey", "--", "sleep", "30"], environment: env,
            stdoutPath: log, stderrPath: log)
        else { throw FixtureError("cannot start with-latchkey") }
        var open = false
        for _ in 0..<200 where !open {
            open = (try? liveSessions(s.daemon).count) == 1
            if !open { usleep(25_000) }
        }
        #expect(open)
        usleep(200_000)
        kill(pid, SIGTERM)
        let status = waitFor(pid)
        #expect(status == 143, "status \(status): \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        #expect(try liveSessions(s.daemon).isEmpty)
        #expect(closedRows(s.daemon) == 2)
    }
}
