// The settings every command that acts as the agent takes (`baton agent`, `baton agent
// --check-config`, `baton hook-test`): the same flags, environment and --config file,
// read the same way, so what a check or a hook test sees is what the agent will run.
import AgentConfig
import ArgumentParser
import Posix

#if canImport(Glibc)
import Glibc
#endif

struct AgentOptions: ParsableArguments {
    @Option(help: "This member's name, one of --peers (or, with --join, a member that asks to be added).") var id: String?
    @Option(help: "This member and others: n1=HOST:PORT,n2=HOST:PORT,… (1 to 7). With --bootstrap on an empty data dir, the founding members; afterwards only whom to contact (the membership is stored; see baton members).") var peers: String?
    @Option(help: "Where to accept peer connections (default: this member's --peers address).") var peerListen: String?
    @Option(help: "Where the HTTP API listens (default: 127.0.0.1:7480).") var apiListen: String?
    @Option(help: "Peer address told to others (default: --peer-listen).") var peerAdvertise: String?
    @Option(help: "API address told to others (default: --api-listen).") var apiAdvertise: String?
    @Option(help: "Where term, vote and log are kept (default: /var/lib/baton).") var dataDir: String?
    @Option(help: "File holding the cluster secret: head -c 32 /dev/urandom > FILE.") var clusterSecretFile: String?
    // Booleans are optional with a --no- form, so that the command line can switch off
    // what the environment or --config switched on (the command line wins).
    @Flag(inversion: .prefixedNo, help: "Run without a cluster secret (a test cluster on one machine only).") var insecurePeers: Bool?
    @Flag(inversion: .prefixedNo, help: "On an empty data dir, found a new group of --peers (ignored on an existing one); without it an empty data dir waits for 'baton members add'.") var bootstrap: Bool?
    @Option(help: "Cluster name; peers of another cluster are refused (default: baton).") var clusterId: String?
    @Flag(inversion: .prefixedNo, help: "Vote and acknowledge, but never campaign or lead.") var witness: Bool?
    @Option(help: "Randomized election timeout MIN..MAX (default: 150ms..300ms).") var electionTimeout: String?
    @Option(help: "Leader heartbeat interval (default: 50ms).") var heartbeatInterval: String?
    @Option(help: "Largest clock-rate drift between nodes, a fraction (default: 0.05).") var maxDrift: String?
    @Option(help: "Log format: text or json (default: text).") var logFormat: String?
    @Option(help: "The least severe lines written: debug, info, notice, warning or error (default: info).") var logLevel: String?
    @Option(help: "File with the token admin endpoints (POST /resign) require; without it they are loopback-only.") var adminTokenFile: String?
    @Option(help: "A file of BATON_KEY=value lines (the format of /etc/default/baton).") var config: String?
    @Option(help: ArgumentHelp("While this member waits to be added, ask these members' APIs to add it: 'baton members add' with --admin-token-file, retried until it is a member. Its --id may then be missing from --peers (whose members found the group; it needs --peer-listen), so one start-up template serves every member.", valueName: "host:port,...")) var join: String?
    @Option(help: ArgumentHelp("With --join: the role to ask for, voter (default) or observer; a --witness member joins as a witness.", valueName: "role")) var joinAs: String?

    // The election engine (issue 18): Baton's own Raft group, or an existing etcd cluster.
    @Option(help: ArgumentHelp("raft (Baton's own group, the default) or etcd (elect through an existing etcd cluster: only --id, --api-listen, --data-dir and the --etcd-* flags are needed; the Raft-only flags --peers, --peer-listen, --peer-advertise, --cluster-secret-file, --insecure-peers, --bootstrap, --witness, --election-timeout, --heartbeat-interval, --join, --join-as are refused).", valueName: "engine")) var backend: String?
    @Option(help: ArgumentHelp("With --backend etcd: etcd client URLs, http://HOST:PORT[,…], tried in order with failover.", valueName: "urls")) var etcdEndpoints: String?
    @Option(help: ArgumentHelp("With --backend etcd: the key prefix of this group (default: /baton/CLUSTER-ID).", valueName: "prefix")) var etcdPrefix: String?
    @Option(help: ArgumentHelp("With --backend etcd: the lease TTL in whole seconds; failover after a crash takes about this long (default: 2s).", valueName: "duration")) var etcdLeaseTtl: String?

    // Hooks and checks (issue 6). A command is split like a shell splits words (quotes,
    // backslashes) but never run by one: write sh -c '…' for pipes or variables.
    @Option(help: ArgumentHelp("Command run when this node takes office.", discussion: "Its environment says why: BATON_EVENT=promote, BATON_NODE_ID, BATON_TERM (the fencing token), BATON_LEADER_ID, BATON_PREVIOUS_LEADER_ID, BATON_REASON (election|transfer), BATON_LEASE_DEADLINE_MS (the lease's end on CLOCK_BOOTTIME, in ms). Hooks run one at a time, in the order of the transitions. A command is split like a shell splits words (quotes, backslashes) but never run by one: write sh -c '…' for pipes or variables. Output goes to the log line by line.", valueName: "cmd")) var onPromote: String?
    @Option(help: ArgumentHelp("Command run when this node leaves office, and once at start-up.", discussion: "BATON_EVENT=demote (BATON_REASON: transfer, lease-lost, higher-term, shutdown, check-failed, promote-failed) or startup: the node campaigns only after the start-up run finished, so the application starts as a follower. Every promote that started is followed by exactly one demote.", valueName: "cmd")) var onDemote: String?
    @Option(help: ArgumentHelp("Command run on every transition, after --on-promote or --on-demote, and alone (BATON_EVENT=change) when the leader becomes another member.", valueName: "cmd")) var onChange: String?
    @Option(help: ArgumentHelp("A hook running longer gets SIGTERM, then SIGKILL 2 s later, and counts as failed (default: 30s).", valueName: "duration")) var hookTimeout: String?
    @Option(help: ArgumentHelp("After winning, wait this long before the promote hook: a budget for the old leader's demote in an unplanned failover (default: 0s).", valueName: "duration")) var promoteDelay: String?
    @Option(help: ArgumentHelp("resign or ignore: a failed promote hook makes the node hand over and not campaign for 10 s, or is only logged (default: resign).", valueName: "policy")) var promoteFailure: String?
    @Option(help: ArgumentHelp("Command checking the application's health (exit 0 = healthy). While it fails the node does not campaign, and a leader hands over (BATON_REASON=check-failed). The node campaigns only after a first pass.", valueName: "cmd")) var check: String?
    @Option(help: ArgumentHelp("Like --check, with an http:// GET: a 2xx answer is healthy.", valueName: "url")) var checkUrl: String?
    @Option(help: ArgumentHelp("How often the check runs; each probe must finish within it (default: 2s).", valueName: "duration")) var checkInterval: String?
    @Option(help: ArgumentHelp("Failed checks in a row that make the node unhealthy; one pass makes it healthy again (default: 3).", valueName: "n")) var checkFailures: String?

    // systemd (issue 6): a leader-only unit started on promote, stopped on demote.
    @Option(help: ArgumentHelp("systemd unit started on promote and stopped on demote and at start-up, through D-Bus, within --hook-timeout; a failure counts like a failing hook.", valueName: "name.service")) var leaderUnit: String?
    @Flag(inversion: .prefixedNo, help: "Start and stop --leader-unit through the user's service manager instead of the system's.") var userBus: Bool?

    // Operator controls (issue 16).
    @Option(help: ArgumentHelp("How long 'baton pause' without --for pauses the group (default: 1h).", valueName: "duration")) var pauseDefault: String?
    @Option(help: ArgumentHelp("The longest pause accepted, at most 7d: a pause always ends (default: 24h).", valueName: "duration")) var pauseMax: String?
    @Option(help: ArgumentHelp("This member's priority when --bootstrap founds the group: the highest able member leads; 0 never leads (default: 100). Later: 'baton members set NAME --priority N'.", valueName: "n")) var priority: String?
    @Flag(inversion: .prefixedNo, help: "Hand over to a caught-up, healthy member of higher priority (default: on).") var preempt: Bool?
    @Option(help: ArgumentHelp("How long a higher-priority member must be caught up and healthy before the leader hands over to it (default: 10s).", valueName: "duration")) var preemptAfter: String?

    /// flags maps each flag given on the command line to its text.
    func flags() -> [String: String] {
        var flags: [String: String] = [:]
        let pairs: [(String, String?)] = [
            ("--id", id), ("--peers", peers), ("--peer-listen", peerListen), ("--api-listen", apiListen),
            ("--peer-advertise", peerAdvertise), ("--api-advertise", apiAdvertise), ("--data-dir", dataDir),
            ("--cluster-secret-file", clusterSecretFile), ("--cluster-id", clusterId),
            ("--election-timeout", electionTimeout), ("--heartbeat-interval", heartbeatInterval),
            ("--max-drift", maxDrift), ("--log-format", logFormat), ("--log-level", logLevel),
            ("--admin-token-file", adminTokenFile), ("--join", join), ("--join-as", joinAs),
            ("--on-promote", onPromote), ("--on-demote", onDemote), ("--on-change", onChange),
            ("--hook-timeout", hookTimeout), ("--promote-delay", promoteDelay), ("--promote-failure", promoteFailure),
            ("--check", check), ("--check-url", checkUrl), ("--check-interval", checkInterval),
            ("--check-failures", checkFailures), ("--leader-unit", leaderUnit),
            ("--pause-default", pauseDefault), ("--pause-max", pauseMax), ("--priority", priority),
            ("--preempt-after", preemptAfter),
            ("--backend", backend), ("--etcd-endpoints", etcdEndpoints), ("--etcd-prefix", etcdPrefix), ("--etcd-lease-ttl", etcdLeaseTtl)]
        for (k, v) in pairs { if let v { flags[k] = v } }
        let booleans: [(String, Bool?)] = [
            ("--insecure-peers", insecurePeers), ("--bootstrap", bootstrap), ("--witness", witness), ("--user-bus", userBus), ("--preempt", preempt)]
        for (k, v) in booleans { if let v { flags[k] = v ? "true" : "false" } }
        return flags
    }

    /// configPath is `--config`, else BATON_CONFIG.
    func configPath(_ environment: [String: String]) -> String? { config ?? environment["BATON_CONFIG"] }

    /// sources reads the environment and the --config file now (again on each SIGHUP).
    func sources() throws(ConfigError) -> SettingSources {
        let environment = Self.batonEnvironment()
        var file: SettingsFile? = nil
        if let path = configPath(environment) {
            let bytes: [UInt8]
            do { bytes = try readSmallFile(path, limit: Self.maxConfigBytes) } catch {
                throw ConfigError(flag: "--config", error == .invalidArgument
                                  ? "\(path) is over \(Self.maxConfigBytes / 1024) KiB; a settings file is a few lines"
                                  : "cannot read \(path): \(error)")
            }
            file = try SettingsFile.parse(String(decoding: bytes, as: UTF8.self), name: path)
        }
        return SettingSources(flags: flags(), environment: environment, file: file)
    }

    static let maxConfigBytes = 64 * 1024

    /// batonEnvironment is this process's BATON_* variables.
    static func batonEnvironment() -> [String: String] {
        var environment: [String: String] = [:]
        var envp = environ
        while let p = envp.pointee {
            let entry = String(cString: p)
            if entry.hasPrefix("BATON_"), let eq = entry.firstIndex(of: "=") {
                environment[String(entry[..<eq])] = String(entry[entry.index(after: eq)...])
            }
            envp += 1
        }
        return environment
    }
}
