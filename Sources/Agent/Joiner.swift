// `--join` (issue 14): while this member waits to be added, ask the group to add it by
// running `baton members add` — this very binary — against the members' APIs in turn.
// The change then goes through the leader and the log like an operator's: the joiner
// decides nothing itself, and a name that is already a member (a data dir lost and
// started again) is refused until the operator removes it, as without --join.
import AgentConfig
import AgentDriver
import AgentLogging
import EventLoop
import Hooks
import Posix
import Time

/// Joiner runs at most one `baton members add` at a time, pauses between failed runs
/// (1 s, doubling to 10 s: a lost member the operator removes is back within that), and
/// stops asking once the view says this node is a member.
final class Joiner {
    static let retryMin = Interval.seconds(1)
    static let retryMax = Interval.seconds(10)
    /// runTimeout bounds one run: the command itself waits up to about 20 s for the
    /// leader's answer (and retries while an election runs).
    static let runTimeout = Interval.seconds(40)
    /// program is the running binary; /proc/self/exe names it even when its file was
    /// replaced by an upgrade since the agent started.
    static let program = "/proc/self/exe"

    private let loop: EventLoop
    private let log: AgentLog
    private let argvFor: (String) -> [String]
    private let apis: [String]
    private var waiting = false
    private var process: HookProcess?
    private var runInFlight = false
    private var timer: TimerID?
    private var nextAPI = 0
    private var pause = retryMin
    private var attempts = 0
    private var lastLine = ""

    init(settings: AgentSettings, join: JoinSettings, loop: EventLoop, log: AgentLog) {
        self.loop = loop
        self.log = log
        apis = join.apis.map(\.description)
        argvFor = { api in
            var argv = [Joiner.program, "members", "add", settings.id, settings.peerAdvertise.description, "--api", api]
            // An API that listens everywhere names no address for /leader answers.
            if !settings.apiAdvertise.isWildcard { argv += ["--api-address", settings.apiAdvertise.description] }
            switch join.role {
            case .voter: break
            case .observer: argv.append("--observer")
            case .witness: argv.append("--witness")
            }
            if let token = settings.adminTokenFile { argv += ["--token-file", token] }
            return argv
        }
    }

    /// viewChanged starts asking when this node waits to be added, and stops once it
    /// is a member (or removed).
    func viewChanged(_ view: AgentView) {
        let nowWaiting = view.membership == .waitingToBeAdded
        guard nowWaiting != waiting else { return }
        waiting = nowWaiting
        if waiting {
            schedule(after: .zero)
        } else {
            if let t = timer { loop.cancel(t); timer = nil }
            if attempts > 0 {
                log.event("joined", .notice, "this member is in the group's membership now (asked \(attempts) time\(attempts == 1 ? "" : "s") with --join)",
                          [("attempts", .number(UInt64(attempts)))], .essential)
            }
        }
    }

    /// stop ends a run in progress (the agent is exiting) and asks no more.
    func stop() {
        waiting = false
        if let t = timer { loop.cancel(t); timer = nil }
        process?.terminate()
    }

    private func schedule(after delay: Interval) {
        if let t = timer { loop.cancel(t) }
        timer = loop.schedule(after: delay) { [weak self] _ in
            self?.timer = nil
            self?.attempt()
        }
    }

    private func attempt() {
        guard waiting, !runInFlight else { return }
        let api = apis[nextAPI % apis.count]
        nextAPI += 1
        attempts += 1
        runInFlight = true
        lastLine = ""
        log.event("join-asking", .info, "asking \(api) to add this member (baton members add, attempt \(attempts))",
                  [("api", .string(api)), ("attempt", .number(UInt64(attempts)))], .limited(key: "join-asking"))
        process = HookProcess.start(loop: loop, argv: argvFor(api), environment: [], timeout: Self.runTimeout,
            onLine: { [weak self] _, line in
                if !line.isEmpty { self?.lastLine = line }
            },
            onExit: { [weak self] outcome in self?.finished(outcome, api: api) })
    }

    private func finished(_ outcome: HookOutcome, api: String) {
        runInFlight = false
        process = nil
        guard waiting else { return }
        if outcome.succeeded {
            // Committed: the leader's next append tells this node (viewChanged stops us).
            // Ask again only if that never comes.
            log.event("join-added", .notice, "\(api): \(lastLine.isEmpty ? "added" : lastLine)",
                      [("api", .string(api))], .essential)
            pause = Self.retryMin
            schedule(after: Self.retryMax)
            return
        }
        // Exit 1: refused (the reason is the last line: e.g. already a member, the
        // token); exit 2 or a timeout: that member could not be reached.
        let refused = outcome.exit == .exited(code: 1)
        let why = lastLine.isEmpty ? outcome.summary : lastLine
        log.event("join-failed", refused ? .warning : .info,
                  "\(api) did not add this member (\(outcome.summary)): \(why); asking again in \(pause.formatted)",
                  [("api", .string(api)), ("outcome", .string(outcome.summary)), ("reason", .string(why))],
                  .limited(key: "join-failed \(refused)"))
        schedule(after: pause)
        pause = min(pause * 2, Self.retryMax)
    }
}
