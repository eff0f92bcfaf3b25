// baton: the command line. `baton agent` runs the daemon; client commands come later.
import Agent
import AgentConfig
import AgentLogging
import ArgumentParser
import EventLoop
import Posix
import RaftCore
import Storage

#if canImport(Glibc)
import Glibc
#endif

let batonVersion = "0.1.0-dev"

/// die prints `baton: message` and exits 2 — the status systemd's unit treats as "do
/// not restart" (a bad flag or damaged state must not restart in a loop).
func die(_ message: String) -> Never {
    var line = "baton: \(message)\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    Glibc.exit(2)
}

struct Baton: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "baton",
        abstract: "Leader election for the copies of your service: exactly one of them leads.",
        version: batonVersion,
        subcommands: [AgentCommand.self, LeaderCommand.self, IsLeaderCommand.self,
                      StatusCommand.self, WatchCommand.self, ResignCommand.self, DemoCommand.self])
}

struct AgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run the agent beside one copy of your application.",
        discussion: """
        Every option can also be set in the environment (BATON_ID, BATON_PEERS, …) or in a
        --config file of BATON_KEY=value lines; flags win over the environment, which wins
        over the file. Durations take ms or s. Exit status 2 means a bad setting or a
        damaged or missing data dir: fix what the message says, do not just restart.
        """)

    @Option(help: "This member's name, one of --peers.") var id: String?
    @Option(help: "Every voter, this one included: n1=HOST:PORT,n2=HOST:PORT,… (1 to 7).") var peers: String?
    @Option(help: "Where to accept peer connections (default: this member's --peers address).") var peerListen: String?
    @Option(help: "Where the HTTP API listens (default: 127.0.0.1:7480).") var apiListen: String?
    @Option(help: "Peer address told to others (default: --peer-listen).") var peerAdvertise: String?
    @Option(help: "API address told to others (default: --api-listen).") var apiAdvertise: String?
    @Option(help: "Where term, vote and log are kept (default: /var/lib/baton).") var dataDir: String?
    @Option(help: "File holding the cluster secret: head -c 32 /dev/urandom > FILE.") var clusterSecretFile: String?
    // Booleans are optional with a --no- form, so that the command line can switch off
    // what the environment or --config switched on (the command line wins).
    @Flag(inversion: .prefixedNo, help: "Run without a cluster secret (a test cluster on one machine only).") var insecurePeers: Bool?
    @Flag(inversion: .prefixedNo, help: "Allow an empty data dir: only the first start of a new cluster.") var bootstrap: Bool?
    @Option(help: "Cluster name; peers of another cluster are refused (default: baton).") var clusterId: String?
    @Flag(inversion: .prefixedNo, help: "Vote and acknowledge, but never campaign or lead.") var witness: Bool?
    @Option(help: "Randomized election timeout MIN..MAX (default: 150ms..300ms).") var electionTimeout: String?
    @Option(help: "Leader heartbeat interval (default: 50ms).") var heartbeatInterval: String?
    @Option(help: "Largest clock-rate drift between nodes, a fraction (default: 0.05).") var maxDrift: String?
    @Option(help: "Log format: text or json (default: text).") var logFormat: String?
    @Option(help: "The least severe lines written: debug, info, notice, warning or error (default: info).") var logLevel: String?
    @Option(help: "File with the token admin endpoints (POST /resign) require; without it they are loopback-only.") var adminTokenFile: String?
    @Option(help: "A file of BATON_KEY=value lines (the format of /etc/default/baton).") var config: String?

    // Hooks and checks (issue 6). A command is split like a shell splits words (quotes,
    // backslashes) but never run by one: write sh -c '…' for pipes or variables.
    @Option(help: ArgumentHelp("Command run when this node takes office.", discussion: "Its environment says why: BATON_EVENT=promote, BATON_NODE_ID, BATON_TERM (the fencing token), BATON_LEADER_ID, BATON_PREVIOUS_LEADER_ID, BATON_REASON (election|transfer), BATON_LEASE_DEADLINE_MS (the lease's end on CLOCK_BOOTTIME, in ms). Hooks run one at a time, in the order of the transitions. A command is split like a shell splits words (quotes, backslashes) but never run by one: write sh -c '…' for pipes or variables. Output goes to the log line by line.", valueName: "cmd")) var onPromote: String?
    @Option(help: ArgumentHelp("Command run when this node leaves office, and once at start-up.", discussion: "BATON_EVENT=demote (BATON_REASON: transfer, lease-lost, higher-term, shutdown, check-failed, promote-failed) or startup: the node campaigns only after the start-up run finished, so the application starts as a follower. Every promote that started is followed by exactly one demote.", valueName: "cmd")) var onDemote: String?
    @Option(help: ArgumentHelp("Command run on every transition, after --on-promote or --on-demote.", valueName: "cmd")) var onChange: String?
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

    func run() throws {
        var flags: [String: String] = [:]
        let pairs: [(String, String?)] = [
            ("--id", id), ("--peers", peers), ("--peer-listen", peerListen), ("--api-listen", apiListen),
            ("--peer-advertise", peerAdvertise), ("--api-advertise", apiAdvertise), ("--data-dir", dataDir),
            ("--cluster-secret-file", clusterSecretFile), ("--cluster-id", clusterId),
            ("--election-timeout", electionTimeout), ("--heartbeat-interval", heartbeatInterval),
            ("--max-drift", maxDrift), ("--log-format", logFormat), ("--log-level", logLevel),
            ("--admin-token-file", adminTokenFile)]
        for (k, v) in pairs { if let v { flags[k] = v } }
        let hookPairs: [(String, String?)] = [
            ("--on-promote", onPromote), ("--on-demote", onDemote), ("--on-change", onChange),
            ("--hook-timeout", hookTimeout), ("--promote-delay", promoteDelay), ("--promote-failure", promoteFailure),
            ("--check", check), ("--check-url", checkUrl), ("--check-interval", checkInterval),
            ("--check-failures", checkFailures)]
        for (k, v) in hookPairs { if let v { flags[k] = v } }
        let booleans: [(String, Bool?)] = [
            ("--insecure-peers", insecurePeers), ("--bootstrap", bootstrap), ("--witness", witness), ("--user-bus", userBus)]
        for (k, v) in booleans { if let v { flags[k] = v ? "true" : "false" } }
        if let leaderUnit { flags["--leader-unit"] = leaderUnit }

        var environment: [String: String] = [:]
        var envp = environ
        while let p = envp.pointee {
            let entry = String(cString: p)
            if entry.hasPrefix("BATON_"), let eq = entry.firstIndex(of: "=") {
                environment[String(entry[..<eq])] = String(entry[entry.index(after: eq)...])
            }
            envp += 1
        }
        let configPath = config ?? environment["BATON_CONFIG"]
        var fileText: String? = nil
        if let path = configPath {
            guard let bytes = try? readSmallFile(path, limit: 64 * 1024) else { die("--config: cannot read \(path)") }
            fileText = String(decoding: bytes, as: UTF8.self)
        }
        let settings: AgentSettings
        do { settings = try AgentSettings.resolve(flags: flags, environment: environment, fileText: fileText, fileName: configPath ?? "") }
        catch { die("\(error)") }

        var secret: [UInt8]? = nil
        if let path = settings.clusterSecretFile {
            guard let bytes = try? readSmallFile(path, limit: 4096) else {
                die("--cluster-secret-file: cannot read \(path); create it with 'head -c 32 /dev/urandom > \(path)' and copy it to every member")
            }
            guard bytes.count >= 16 else {
                die("--cluster-secret-file: \(path) holds \(bytes.count) bytes; a secret needs at least 16 (use head -c 32 /dev/urandom)")
            }
            secret = bytes
        }
        // Before any thread starts (they inherit the mask): a log reader that went away
        // is an EPIPE for the log, not a SIGPIPE that kills the agent.
        ignoreBrokenPipes()
        let log = makeAgentLog(node: settings.id, format: settings.logFormat, level: settings.logLevel)
        if settings.insecurePeers {
            log.event("insecure-peers", .warning, "--insecure-peers: peers are not authenticated; anyone who can reach the peer port can vote", [], .always)
        }

        let directory: DataDirectory
        do { directory = try DataDirectory.open(path: settings.dataDir, bootstrap: settings.bootstrap) }
        catch { die("\(error)") }
        // The notices include "--bootstrap ignored" when state already existed.
        for notice in directory.report.notices {
            log.event("storage-notice", .notice, notice, [], .always, term: directory.state.hardState.term)
        }

        // Block the shutdown signals before any thread starts, and read them on the loop.
        let signals: SignalFD
        do { signals = try SignalFD(signals: [SignalNumber.terminate, SignalNumber.interrupt]) }
        catch { die("cannot watch signals: \(error)") }
        do {
            let loop = try EventLoop()
            log.wake = { [unowned log] at in loop.schedule(atNs: at) { _ in log.service() } }
            let agent = try Agent(settings: settings, secret: secret, directory: directory, loop: loop, log: log)
            do { try agent.start() } catch { die("cannot start: \(error) (is another process using the address?)") }
            let watcher = SignalWatcher(signals: signals, agent: agent, loop: loop)
            try loop.register(watcher.descriptor, interest: .readable, handler: watcher)
            try loop.run()
            log.writeSummaries()
            log.event("stopped", .notice, "\(settings.id) stopped", [], .essential)
            log.drain(timeoutMs: 1_000)
            Glibc.exit(0)
        } catch {
            die("\(error)")
        }
    }
}

/// SignalWatcher turns SIGTERM/SIGINT into a hand-over and a clean exit; a second
/// signal exits at once.
final class SignalWatcher: EventHandler {
    let signals: SignalFD
    let agent: Agent
    let loop: EventLoop
    var received = 0
    var descriptor: Int32 { signals.descriptor.rawValue }

    init(signals: consuming SignalFD, agent: Agent, loop: EventLoop) {
        self.signals = signals
        self.agent = agent
        self.loop = loop
    }

    func handleEvents(_ events: EpollEvents, descriptor: Int32) {
        while let _ = try? signals.next() {
            received += 1
            if received > 1 { Glibc.exit(0) }
            agent.beginShutdown { [loop] in loop.stop() }
        }
    }
}

/// readSmallFile reads a whole file of at most `limit` bytes.
func readSmallFile(_ path: String, limit: Int) throws -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw Errno(rawValue: errno) }
    defer { close(fd) }
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 { throw Errno(rawValue: errno) }
        if n == 0 { break }
        out += buffer[0..<n]
        if out.count > limit { throw Errno.invalidArgument }
    }
    return out
}

/// runBaton is ArgumentParser's `main()` with one difference: a usage error (unknown flag,
/// bad value: ArgumentParser's 64) exits 2, the status the whole CLI gives for "cannot do
/// that" — so `baton is-leader` stays 0 leader, 1 not leader, 2 cannot tell, and the
/// systemd unit's RestartPreventExitStatus=2 keeps a mistyped flag from restarting in a loop.
func runBaton() -> Never {
    do {
        var command = try Baton.parseAsRoot()
        try command.run()
        Glibc.exit(0)
    } catch {
        let code = Baton.exitCode(for: error)
        if code == .validationFailure {
            var text = Baton.fullMessage(for: error) + "\n"
            text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
            Glibc.exit(2)
        }
        Baton.exit(withError: error)
    }
}

runBaton()
