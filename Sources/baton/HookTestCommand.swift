// `baton hook-test` (issue 17 point 3): run a configured hook once, with exactly the
// environment the agent would give it, and show what it did — without touching the group.
import Agent
import AgentConfig
import ArgumentParser
import EventLoop
import Hooks
import Posix
import RaftCore
import Storage
import Time

#if canImport(Glibc)
import Glibc
#endif

struct HookTestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hook-test",
        abstract: "Run a configured hook once, as the agent would, and show its exit status, duration and output.",
        discussion: """
        Takes the same settings as `baton agent` (flags, environment, --config) and runs \
        the hook for TRANSITION: promote runs --on-promote, demote and startup run \
        --on-demote, change runs --on-change (as on a promote unless --event says otherwise; \
        --event change is the run alone when the leader becomes another member). \
        The hook gets the environment it would get from the agent, with the term of --term \
        (default: this member's current term from its data dir, else 1), and is bounded by \
        --hook-timeout. No agent is asked and nothing is sent to the group. Exit status: 0 \
        the hook succeeded, 1 it failed, 2 no such hook is configured or a setting is wrong.
        """)

    enum Transition: String, ExpressibleByArgument, CaseIterable { case promote, demote, startup, change }

    @Argument(help: "promote, demote, startup or change.") var transition: Transition
    @Option(help: "The term (fencing token) to pass in BATON_TERM.") var term: UInt64?
    @Option(help: ArgumentHelp("For change: the transition it reports (promote, demote, startup, or change: the leader is another member now).", valueName: "event")) var event: String?
    @OptionGroup var options: AgentOptions

    func validate() throws {
        if let event, !["promote", "demote", "startup", "change"].contains(event) {
            throw ValidationError("--event: '\(event)' is not promote, demote, startup or change")
        }
        if event != nil && transition != .change { throw ValidationError("--event only goes with change") }
    }

    func run() throws {
        let settings: AgentSettings
        do { settings = try AgentSettings.resolve(try options.sources()) } catch { die(AgentCommand.explain(error)) }
        let h = settings.hooks
        let (flag, argv): (String, [String]?) = switch transition {
        case .promote: ("--on-promote", h.onPromote)
        case .demote, .startup: ("--on-demote", h.onDemote)
        case .change: ("--on-change", h.onChange)
        }
        guard let argv else { die("\(flag) is not set, so there is no \(transition.rawValue) hook to run") }
        if let problem = Preflight.programProblems(settings).first(where: { $0.flag == flag }) { die(problem.description) }

        let eventName = transition == .change ? (event ?? "promote") : transition.rawValue
        let useTerm = term ?? (try? DataDirectory.inspect(path: settings.dataDir))?.state?.term ?? 1
        let me = settings.id
        let other = settings.members.first { $0.name != me }?.name ?? ""
        let transitionEnvironment: [String]
        switch eventName {
        case "promote":
            // The lease as a fresh office would hold it: its minimum election timeout from now.
            let leaseMs = (Int64(Clock.boottime()) + settings.raft.electionTimeoutMin.nanoseconds) / 1_000_000
            transitionEnvironment = HookEnvironment.transition(event: "promote", node: me, term: useTerm, leader: me,
                                                               previousLeader: other, reason: "election", leaseDeadlineMs: leaseMs)
        case "demote":
            transitionEnvironment = HookEnvironment.transition(event: "demote", node: me, term: useTerm, leader: other,
                                                               previousLeader: me, reason: "transfer", leaseDeadlineMs: 0)
        case "change":
            transitionEnvironment = HookEnvironment.transition(event: "change", node: me, term: useTerm, leader: other,
                                                               previousLeader: "", reason: "leader-changed", leaseDeadlineMs: 0)
        default:
            transitionEnvironment = HookEnvironment.transition(event: "startup", node: me, term: useTerm, leader: "",
                                                               previousLeader: "", reason: "startup", leaseDeadlineMs: 0)
        }
        let environment = HookEnvironment.base(inherited: HookEnvironment.inherited(), application: settings.hookEnvironment)
            + transitionEnvironment
        print("hook-test: \(flag) \(argv.map(Self.shellQuoted).joined(separator: " "))")
        print("  with \(transitionEnvironment.joined(separator: " "))")
        if !settings.hookEnvironment.isEmpty {
            print("  and from --config: \(settings.hookEnvironment.map { "\($0.name)=\($0.value)" }.joined(separator: " "))")
        }
        print("  timeout \(h.hookTimeout.formatted) (SIGTERM, then SIGKILL 2 s later)")

        let loop: EventLoop
        do { loop = try EventLoop() } catch { die("cannot start an event loop: \(error)") }
        var result: HookOutcome? = nil
        HookProcess.start(loop: loop, argv: argv, environment: environment, timeout: h.hookTimeout,
                          onLine: { stream, text in print("  \(stream == .stderr ? "stderr" : "stdout")| \(text)") },
                          onExit: { outcome in result = outcome; loop.stop() })
        do { try loop.run() } catch { die("event loop: \(error)") }
        guard let outcome = result else { die("the hook's end was not observed") }
        var line = "result: \(outcome.summary) after \(Self.milliseconds(UInt64(max(0, outcome.duration.nanoseconds)))) ms"
        if outcome.droppedBytes > 0 { line += " (\(outcome.droppedBytes) bytes of output over the limit not shown)" }
        if let spawn = outcome.spawnError { line += ": \(spawn)" }
        print(line)
        throw ExitCode(outcome.succeeded ? 0 : 1)
    }

    static func milliseconds(_ ns: UInt64) -> String {
        let us = ns / 1000
        return "\(us / 1000).\(String(us % 1000 + 1000).dropFirst())"
    }

    /// shellQuoted shows a word as a shell would need it, so the printed command can be
    /// pasted (the agent itself never uses a shell).
    static func shellQuoted(_ word: String) -> String {
        let plain = !word.isEmpty && word.allSatisfy { $0.isLetter || $0.isNumber || "-_./=:,@%+".contains($0) }
        guard !plain else { return word }
        var out = "'"
        for ch in word { out += ch == "'" ? "'\\''" : String(ch) }
        return out + "'"
    }
}
