import Foundation
import LatchkeyTestSupport
import Testing

/// What an operator runs around the daemon: JSON logs, shell completions, the manual's
/// input, the install script and the systemd units.
@Suite struct OperationsTests {
    /// The repository root (for scripts/ and contrib/).
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// Every subcommand path of the CLI (`backup verify`, `deploy-key rotate`, …), from
    /// the parser's own description of itself (what generate-manual renders).
    static func commandPaths() throws -> [[String]] {
        let dump = sh([latchkeyBinary, "--experimental-dump-help"])
        guard dump.status == 0, let root = try JSONSerialization.jsonObject(with: Data(dump.out.utf8)) as? [String: Any],
            let command = root["command"] as? [String: Any]
        else { throw FixtureError("--experimental-dump-help failed: \(dump.err)") }
        var paths: [[String]] = []
        func walk(_ c: [String: Any], _ path: [String]) {
            for sub in c["subcommands"] as? [[String: Any]] ?? [] {
                guard let name = sub["commandName"] as? String, name != "help" else { continue }
                paths.append(path + [name])
                walk(sub, path + [name])
            }
        }
        walk(command, [])
        return paths
    }

    @Test func jsonLogLinesHaveStableFields() throws {
        let d = try DaemonProcess(serveArguments: ["--log-format", "json"])
        #expect(d.cli(["project", "list"]).status == 0)
        d.stop()
        let lines = d.log.split(separator: "\n").map(String.init)
        #expect(lines.count >= 2, "\(d.log)")
        var messages: [String] = []
        for line in lines {
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String]
            #expect(object != nil, "not a JSON object of strings: \(line)")
            guard let object else { continue }
            for field in ["time", "level", "logger", "message"] { #expect(object[field] != nil, "\(field) missing in \(line)") }
            #expect(object["time"]?.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"#, options: .regularExpression) != nil)
            #expect(["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(object["level"] ?? ""))
            messages.append(object["message"] ?? "")
        }
        #expect(messages.contains("serving") && messages.contains("stopped"), "\(messages)")
        // Metadata keys become fields of their own.
        #expect(lines.contains { $0.contains("\"message\":\"serving\"") && $0.contains("\"socket\":") }, "\(d.log)")
        let bad = sh([latchkeyBinary, "serve", "--log-format", "xml", "--data-dir", d.dataDir])
        #expect(bad.status == 64 && bad.err.contains("--log-format must be text or json"), "\(bad.err)")
    }

    @Test(arguments: ["bash", "zsh", "fish"])
    func completionScriptsNameEverySubcommand(shell: String) throws {
        let script = sh([latchkeyBinary, "--generate-completion-script", shell])
        #expect(script.status == 0, "\(script.err)")
        let paths = try Self.commandPaths()
        #expect(paths.contains(["backup", "verify"]) && paths.contains(["restore"]) && paths.contains(["deploy-key", "rotate"]))
        for path in paths { #expect(script.out.contains(path.last!), "\(shell) completion lacks \(path.joined(separator: " "))") }
        if shell == "bash" {
            // bash itself loads it and registers the completion function.
            let file = makeTempDirectory("completion") + "/latchkey.bash"
            try script.out.write(toFile: file, atomically: true, encoding: .utf8)
            let loaded = sh(["bash", "-c", "source \(file) && complete -p latchkey"])
            #expect(loaded.status == 0 && loaded.out.contains("latchkey"), "\(loaded.err)")
        }
    }

    /// generate-manual renders one page per command from this description, so every
    /// command must describe itself.
    @Test func everyCommandDescribesItselfForTheManual() throws {
        let dump = sh([latchkeyBinary, "--experimental-dump-help"])
        let root = try JSONSerialization.jsonObject(with: Data(dump.out.utf8)) as! [String: Any]
        func walk(_ c: [String: Any], _ path: String) {
            let abstract = c["abstract"] as? String ?? ""
            #expect(!abstract.isEmpty, "\(path) has no abstract for its man page")
            for sub in c["subcommands"] as? [[String: Any]] ?? [] where sub["commandName"] as? String != "help" {
                walk(sub, path + " " + (sub["commandName"] as? String ?? "?"))
            }
        }
        walk(root["command"] as! [String: Any], "latchkey")
    }

    @Test func installServicePutsEverythingUnderARoot() throws {
        let root = makeTempDirectory("install")
        let r = sh([Self.repository + "/scripts/install-service", "--root", root, "--binary", latchkeyBinary, "--no-man"], cwd: Self.repository)
        #expect(r.status == 0, "\(r.err)")
        for path in [
            "/usr/local/bin/latchkey", "/etc/systemd/system/latchkey.service", "/etc/systemd/system/latchkey.socket",
            "/etc/systemd/system/latchkey-backup.service", "/etc/systemd/system/latchkey-backup.timer",
            "/etc/sysusers.d/latchkey.conf", "/usr/share/bash-completion/completions/latchkey",
            "/usr/local/share/zsh/site-functions/_latchkey", "/usr/share/fish/vendor_completions.d/latchkey.fish", "/etc/latchkey/policies",
        ] {
            #expect(FileManager.default.fileExists(atPath: root + path), "\(path) not installed")
        }
        #expect(sh([root + "/usr/local/bin/latchkey", "--version"]).status == 0)
        // systemd's own checker accepts the installed units, with ExecStart pointing at a
        // binary that exists on this host (man pages are not installed here).
        let check = makeTempDirectory("units")
        let service = try String(contentsOfFile: root + "/etc/systemd/system/latchkey.service", encoding: .utf8)
        try service.replacingOccurrences(of: "/usr/local/bin/latchkey", with: root + "/usr/local/bin/latchkey")
            .write(toFile: check + "/latchkey.service", atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: root + "/etc/systemd/system/latchkey.socket", toPath: check + "/latchkey.socket")
        let backup = try String(contentsOfFile: root + "/etc/systemd/system/latchkey-backup.service", encoding: .utf8)
        try backup.replacingOccurrences(of: "/usr/local/bin/latchkey", with: root + "/usr/local/bin/latchkey")
            .write(toFile: check + "/latchkey-backup.service", atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: root + "/etc/systemd/system/latchkey-backup.timer", toPath: check + "/latchkey-backup.timer")
        let verify = sh([
            "systemd-analyze", "verify", "--man=no", check + "/latchkey.socket", check + "/latchkey.service", check + "/latchkey-backup.timer",
            check + "/latchkey-backup.service",
        ])
        #expect(verify.status == 0 && verify.err.isEmpty, "\(verify.out)\(verify.err)")
    }

    @Test func theUnitsAskForReadinessActivationAndHardening() throws {
        let service = try String(contentsOfFile: Self.repository + "/contrib/systemd/latchkey.service", encoding: .utf8)
        let socket = try String(contentsOfFile: Self.repository + "/contrib/systemd/latchkey.socket", encoding: .utf8)
        for line in [
            "Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "ProtectSystem=strict", "PrivateTmp=yes", "NoNewPrivileges=yes",
            "CapabilityBoundingSet=\n", "MemoryDenyWriteExecute=yes", "LimitCORE=0", "StateDirectory=latchkey", "RuntimeDirectory=latchkey",
            "LoadCredential=master.key:", "--key-file %d/master.key", "Requires=latchkey.socket",
        ] {
            #expect(service.contains(line), "latchkey.service lacks \(line)")
        }
        #expect(socket.contains("ListenStream=/run/latchkey/latchkey.sock") && socket.contains("SocketMode=0660"))
        let verify = sh(["systemd-analyze", "verify", "--man=no", Self.repository + "/contrib/systemd/latchkey.socket"])
        #expect(verify.status == 0, "\(verify.err)")
    }
}

/// The installed unit's own ExecStart, run the way systemd runs it: socket-activated on its
/// ListenStream, with the key file handed over as a credential (%d), the state and
/// runtime paths moved under a temporary root.
@Suite struct ServiceUnitTests {
    @Test func theInstalledUnitsExecStartServesWithACredentialKey() throws {
        let root = makeTempDirectory("unit")
        let install = sh([OperationsTests.repository + "/scripts/install-service", "--root", root, "--binary", latchkeyBinary, "--no-man"],
            cwd: OperationsTests.repository)
        #expect(install.status == 0, "\(install.err)")
        let unit = try String(contentsOfFile: root + "/etc/systemd/system/latchkey.service", encoding: .utf8)
        let socketUnit = try String(contentsOfFile: root + "/etc/systemd/system/latchkey.socket", encoding: .utf8)
        let execStart = try #require(unit.split(separator: "\n").first { $0.hasPrefix("ExecStart=") }).dropFirst("ExecStart=".count)
        let listen = try #require(socketUnit.split(separator: "\n").first { $0.hasPrefix("ListenStream=") }).dropFirst("ListenStream=".count)
        // The operator's steps: init with the key in /etc/latchkey, a policy.
        try FileManager.default.createDirectory(atPath: root + "/var/lib", withIntermediateDirectories: true)
        #expect(sh([latchkeyBinary, "init", "--data-dir", root + "/var/lib/latchkey", "--key-file", root + "/etc/latchkey/master.key"]).status == 0)
        try daemonUserPolicy.write(toFile: root + "/etc/latchkey/policies/production.yaml", atomically: true, encoding: .utf8)
        // What LoadCredential= does: a private copy, mode 0400.
        let credentials = root + "/run/credentials/latchkey.service"
        #expect(sh(["install", "-D", "-m", "0400", root + "/etc/latchkey/master.key", credentials + "/master.key"]).status == 0)
        mkdir(root + "/run/latchkey", 0o750)
        func rooted(_ s: Substring) -> String {
            s.replacingOccurrences(of: "%d", with: credentials)
                .replacingOccurrences(of: "/var/lib/latchkey", with: root + "/var/lib/latchkey")
                .replacingOccurrences(of: "/etc/latchkey", with: root + "/etc/latchkey")
                .replacingOccurrences(of: "/run/latchkey", with: root + "/run/latchkey")
                .replacingOccurrences(of: "/usr/local/bin", with: root + "/usr/local/bin")
        }
        let argv = rooted(execStart).split(separator: " ").map(String.init)
        let socket = rooted(listen)
        let log = root + "/journal.log"
        guard let pid = spawn(
            ["/usr/bin/systemd-socket-activate", "-l", socket, "--fdname=latchkey"] + argv,
            environment: ProcessInfo.processInfo.environment, stdoutPath: log, stderrPath: log)
        else { throw FixtureError("cannot start systemd-socket-activate") }
        defer { kill(pid, SIGTERM); _ = waitFor(pid) }
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: socket) { usleep(25_000) }
        let health = sh([latchkeyBinary, "health", "--socket", socket])
        #expect(health.status == 0, "\(health.err)\((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        // The nightly backup unit's two commands, as systemd would run them (with `$$` and
        // `%%` unescaped and STATE_DIRECTORY set).
        let backupUnit = try String(contentsOfFile: root + "/etc/systemd/system/latchkey-backup.service", encoding: .utf8)
        #expect(sh([latchkeyBinary, "audit", "public-key", "--socket", socket]).out.isEmpty == false)
        try sh([latchkeyBinary, "audit", "public-key", "--socket", socket]).out.write(toFile: root + "/etc/latchkey/audit.pub", atomically: true, encoding: .utf8)
        let backups = root + "/var/lib/latchkey-backups"
        mkdir(backups, 0o700)
        for key in ["ExecStart=", "ExecStartPost="] {
            let line = try #require(backupUnit.split(separator: "\n").first { $0.hasPrefix(key) }).dropFirst(key.count)
            let command = rooted(Substring(line.replacingOccurrences(of: "$$", with: "$").replacingOccurrences(of: "%%", with: "\u{1}")))
                .replacingOccurrences(of: "\u{1}", with: "%")
                .replacingOccurrences(of: root + "/run/latchkey", with: (socket as NSString).deletingLastPathComponent)
            let words = command.split(separator: " ", maxSplits: 2).map(String.init)  // /bin/sh -c '…'
            let script = String(words[2].dropFirst().dropLast())
            let run = sh(["/bin/sh", "-c", script], env: ["STATE_DIRECTORY": backups])
            #expect(run.status == 0, "\(key) \(script): \(run.out)\(run.err)")
        }
        let made = (try? FileManager.default.contentsOfDirectory(atPath: backups)) ?? []
        #expect(made.count == 1 && made[0].hasPrefix("latchkey-") && made[0].hasSuffix(".db"), "\(made)")
        // Its log lines are JSON (the unit asks for --log-format json).
        let first = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").first { $0.hasPrefix("{") }
        #expect(first.map { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) != nil } == true)
    }
}
