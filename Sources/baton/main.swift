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
                      StatusCommand.self, WatchCommand.self, ResignCommand.self, MembersCommand.self, PauseCommand.self, ResumeCommand.self, HistoryCommand.self, HookTestCommand.self,
                      DemoCommand.self])
}

struct AgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run the agent beside one copy of your application.",
        discussion: """
        Every option can also be set in the environment (BATON_ID, BATON_PEERS, …) or in a \
        --config file of BATON_KEY=value lines; flags win over the environment, which wins \
        over the file. Durations take a unit: 150ms, 2s, 1m30s. SIGHUP reloads the hooks, \
        the check, the log settings and the admin token from the same sources. Exit status 2 \
        means a bad setting or a damaged or missing data dir: fix what the message says, do \
        not just restart.
        """)

    @OptionGroup var options: AgentOptions
    @Flag(help: "Check every setting, program, address, secret and the data dir as the agent would, print the effective settings and where each came from, and exit: 0 when it would start, 2 when not. Changes nothing.")
    var checkConfig = false

    func run() throws {
        let sources: SettingSources
        let settings: AgentSettings
        do {
            sources = try options.sources()
            settings = try AgentSettings.resolve(sources)
        } catch {
            if checkConfig { print("baton agent --check-config: the settings do not resolve") }
            die(Self.explain(error))
        }
        if checkConfig { CheckConfigReport.run(settings, sources: sources) }
        if let problem = Preflight.startProblems(settings).first { die(Self.explain(problem)) }
        let secret: [UInt8]?
        do { secret = try Preflight.loadSecret(settings) } catch { die(Self.explain(error)) }

        // Before any thread starts (they inherit the mask): a log reader that went away
        // is an EPIPE for the log, not a SIGPIPE that kills the agent.
        ignoreBrokenPipes()
        let log = makeAgentLog(node: settings.id, format: settings.logFormat, level: settings.logLevel)
        for warning in Preflight.secretWarnings(settings) { log.event("unsafe-secret", .warning, warning, [], .always) }
        if settings.insecurePeers && secret != nil {
            log.event("insecure-peers", .warning, "--insecure-peers is ignored: --cluster-secret-file is set, so peers still prove they hold the secret and peers without it are refused", [], .always)
        } else if settings.insecurePeers {
            log.event("insecure-peers", .warning, "--insecure-peers: peers are not authenticated; anyone who can reach the peer port can vote", [], .always)
        }
        for stray in sources.strayEnvironment() {
            log.event("unknown-environment", .warning, "\(stray.name) is not a setting and is ignored\(stray.suggestion.map { "; did you mean \($0)?" } ?? "")",
                      [("variable", .string(stray.name))], .always)
        }

        if settings.etcd != nil { runEtcdAgent(settings, options: options, log: log) }
        let start: DataDirStart
        do { start = try Agent.openDataDir(settings) } catch { die(Self.explain(error)) }
        // The notices include "--bootstrap ignored" when state already existed, a data
        // dir made or migrated, and a member waiting to be added.
        for notice in start.notices {
            log.event(notice.event, notice.level, notice.message, [], .always, term: start.directory.state.hardState.term)
        }

        // Block the signals before any thread starts, and read them on the loop.
        let signals: SignalFD
        do { signals = try SignalFD(signals: [SignalNumber.terminate, SignalNumber.interrupt, SignalNumber.hangup]) }
        catch { die("cannot watch signals: \(error)") }
        do {
            let loop = try agentLoop(log)
            let agent = try Agent(settings: settings, secret: secret, start: start, loop: loop, log: log)
            serve(agent, loop: loop, settings: settings, options: options, log: log, signals: signals)
        } catch {
            die(Self.explain(error))
        }
    }

    /// explain words a start-up error for the operator: a settings error names its flag;
    /// a mistyped flag gets the closest real one.
    static func explain(_ error: any Error) -> String {
        if let e = error as? ConfigError {
            if e.message == "unknown setting", let guess = closestFlag(to: e.flag) { return "\(e.flag): unknown setting; did you mean \(guess)?" }
            return e.description
        }
        return "\(error)"
    }
}

/// SignalWatcher turns SIGTERM/SIGINT into a hand-over and a clean exit (a second
/// signal exits at once) and SIGHUP into a reload of the settings.
final class SignalWatcher: EventHandler {
    let signals: SignalFD
    let agent: any RunningAgent
    let loop: EventLoop
    let options: AgentOptions
    let log: AgentLog
    var stopSignals = 0
    var descriptor: Int32 { signals.descriptor.rawValue }

    init(signals: consuming SignalFD, agent: any RunningAgent, loop: EventLoop, options: AgentOptions, log: AgentLog) {
        self.signals = signals
        self.agent = agent
        self.loop = loop
        self.options = options
        self.log = log
    }

    func handleEvents(_ events: EpollEvents, descriptor: Int32) {
        while let signal = try? signals.next() {
            if signal == SignalNumber.hangup {
                reload()
                continue
            }
            stopSignals += 1
            if stopSignals > 1 {
                // A second signal: now. The running hook is killed; nothing waits.
                agent.stopNow()
                Glibc.exit(0)
            }
            agent.beginShutdown { [loop] in loop.stop() }
        }
    }

    /// reload reads the flags (unchanged), the environment (as at start) and the config
    /// file (as now written), checks them as a start would, and applies what a running
    /// agent can take; a bad config is refused whole and the running one kept.
    func reload() {
        let new: AgentSettings
        do {
            new = try AgentSettings.resolve(try options.sources())
            if let problem = Preflight.startProblems(new, reload: true).first { throw problem }
        } catch {
            log.event("reload-refused", .error, "SIGHUP: the new settings are refused, the running ones kept: \(AgentCommand.explain(error))",
                      [("error", .string(AgentCommand.explain(error)))], .always)
            return
        }
        do {
            let plan = try agent.reload(new)
            var fields: LogFields = [("applied", .string(plan.applied.joined(separator: ",")))]
            var message = plan.applied.isEmpty ? "SIGHUP: nothing to apply" : "SIGHUP: applied \(plan.applied.joined(separator: ", "))"
            if !plan.needsRestart.isEmpty {
                fields.append(("needs_restart", .string(plan.needsRestart.joined(separator: ","))))
                message += "; changed but applied only by a restart: \(plan.needsRestart.joined(separator: ", "))"
            }
            log.event("reloaded", plan.needsRestart.isEmpty ? .notice : .warning, message, fields, .always)
        } catch {
            log.event("reload-refused", .error, "SIGHUP: the new settings are refused, the running ones kept: \(error)",
                      [("error", .string(error.description))], .always)
        }
    }
}

/// readSmallFile reads a whole file of at most `limit` bytes (EINVAL when longer).
func readSmallFile(_ path: String, limit: Int) throws(Errno) -> [UInt8] {
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
