/// The policy most daemon tests run under: the daemon's own user is admin, auditor, runner
/// (every project, both grants) and build, with room for long benchmarks and bursts.
public let daemonUserPolicy = """
    version: 1
    admins: { users: [$daemon] }
    auditors: { users: [$daemon] }
    runners:
      - name: local
        who: { users: [$daemon] }
        projects: ["*"]
        grants: [deploy-key, token]
        max_ttl: 1h
        max_uses: 100000
        builds: { users: [$daemon] }
    """
