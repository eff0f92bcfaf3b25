// The driver of the hook queue: runs each job's commands one after another on the loop,
// keeps the figures /status and /metrics show, and hands the queue's decisions that
// concern the core (demote finished, resign, start-up done) to the agent.
public import EventLoop
import Posix
public import Time

/// HookCommands is the configured commands and their limits.
public struct HookCommands: Sendable {
    public var onPromote: [String]?
    public var onDemote: [String]?
    public var onChange: [String]?
    public var timeout: Interval
    public var killGrace: Interval
    public var promoteDelay: Interval
    public var limits: OutputLimits
    /// leaderUnit names the `--leader-unit` (started on promote, stopped on demote and
    /// at start-up); the runner asks `HookRunner.unitJob` to do the work.
    public var leaderUnit: String? = nil

    public init(onPromote: [String]? = nil, onDemote: [String]? = nil, onChange: [String]? = nil,
                timeout: Interval = .seconds(30), killGrace: Interval = HookProcess.defaultKillGrace,
                promoteDelay: Interval = .zero, limits: OutputLimits = OutputLimits()) {
        self.onPromote = onPromote; self.onDemote = onDemote; self.onChange = onChange
        self.timeout = timeout; self.killGrace = killGrace
        self.promoteDelay = promoteDelay; self.limits = limits
    }

    /// commands lists what a job runs, in order. The leader unit nests inside the hooks:
    /// a promote prepares (`--on-promote`) before the unit starts acting as leader; a
    /// demote stops the unit first, then undoes (`--on-demote`). `--on-change` is last.
    func commands(for event: HookEvent) -> [(name: String, step: HookStep)] {
        var out: [(String, HookStep)] = []
        switch event {
        case .promote:
            if let c = onPromote { out.append(("on-promote", .command(c))) }
            if leaderUnit != nil { out.append(("leader-unit", .unit(start: true))) }
        case .demote, .startup:
            if leaderUnit != nil { out.append(("leader-unit", .unit(start: false))) }
            if let c = onDemote { out.append(("on-demote", .command(c))) }
        }
        if let c = onChange { out.append(("on-change", .command(c))) }
        return out
    }
}

/// HookStep is one thing a hook job does: run a command, or start/stop the leader unit.
public enum HookStep: Hashable, Sendable {
    case command([String])
    case unit(start: Bool)
}

/// HookRunRecord is the last run of one hook, for /status.
public struct HookRunRecord: Hashable, Sendable {
    public var hook: String
    public var event: HookEvent
    public var term: UInt64
    public var running: Bool
    /// `exit 0`, `exit 3`, `signal 9`, `timeout (signal 15)`, `not started: …`; empty while running.
    public var result: String
    public var exitCode: Int32?
    public var duration: Interval
}

/// HookStatus is what /status and /metrics show about hooks.
public struct HookStatus: Hashable, Sendable {
    /// The last (or current) run of each hook, keyed by `on-promote`, `on-demote`, `on-change`.
    public var last: [String: HookRunRecord] = [:]
    /// Commands run, and how many of them failed (non-zero, signal, timeout, not started).
    public var runs: UInt64 = 0
    public var failures: UInt64 = 0
    public var timeouts: UInt64 = 0
    /// Promote/demote pairs skipped because the office ended before the promote started.
    public var skippedPairs: UInt64 = 0

    public init() {}
}

/// HookLogEntry is what the runner asks the agent to log.
public enum HookLogEntry {
    case started(job: HookJob, hook: String, pid: Int32)
    case unitJobStarted(job: HookJob, hook: String, start: Bool)
    case line(job: HookJob, hook: String, stream: OutputStream, text: String)
    case ended(job: HookJob, hook: String, outcome: HookOutcome)
    case skipped(term: UInt64)
    case delaying(term: UInt64, delay: Interval)
}

/// HookRunner owns the queue and runs its jobs.
public final class HookRunner {
    let loop: EventLoop
    public private(set) var commands: HookCommands
    private var queue: HookQueue
    /// pending: commands from a reload, taken when no job runs (a job keeps the
    /// commands it started with, so its promote and demote steps stay one set).
    private var pending: (commands: HookCommands, resignOnPromoteFailure: Bool)?
    public private(set) var status = HookStatus()
    private var process: HookProcess?
    private var jobFailed = false

    /// environment returns the complete environment (`KEY=value`) for a job, read when
    /// each command starts (so the leader names and lease are current).
    public var environment: (HookJob) -> [String] = { _ in [] }
    public var log: (HookLogEntry) -> Void = { _ in }
    /// unitJob starts (true) or stops (false) the leader unit and calls `done` on the
    /// loop with the outcome; it counts like a hook (a failure fails the job).
    public var unitJob: ((_ start: Bool, _ done: @escaping (HookOutcome) -> Void) -> Void)?
    /// perform gets `.demoteFinished`, `.resign` and `.startupFinished`.
    public var perform: (HookAction) -> Void = { _ in }

    public init(loop: EventLoop, commands: HookCommands, resignOnPromoteFailure: Bool) {
        self.loop = loop
        self.commands = commands
        queue = HookQueue(promoteDelayed: commands.promoteDelay > .zero, resignOnPromoteFailure: resignOnPromoteFailure)
    }

    /// update replaces the commands (SIGHUP): now if no job runs, else once the queue is idle.
    public func update(commands: HookCommands, resignOnPromoteFailure: Bool) {
        pending = (commands, resignOnPromoteFailure)
        takePendingIfIdle()
    }

    private func takePendingIfIdle() {
        guard let p = pending, queue.isIdle else { return }
        pending = nil
        commands = p.commands
        queue.promoteDelayed = p.commands.promoteDelay > .zero
        queue.resignOnPromoteFailure = p.resignOnPromoteFailure
    }

    /// isIdle: no hook runs, waits or is queued.
    public var isIdle: Bool { queue.isIdle }
    /// runningJob is the job whose commands run now.
    public var runningJob: HookJob? { queue.running }

    /// begin starts the start-up run (`BATON_EVENT=startup`).
    public func begin() { handle(queue.begin()) }

    public func officeEntered(term: UInt64, reason: String) { handle(queue.officeEntered(term: term, reason: reason)) }

    public func officeLeft(term: UInt64, reason: String) { handle(queue.officeLeft(term: term, reason: reason)) }

    /// killRunning ends the running command at once (the agent exits on a second signal).
    public func killRunning() { process?.terminate() }

    private func handle(_ actions: [HookAction]) {
        for action in actions {
            switch action {
            case .start(let job):
                jobFailed = false
                runCommand(job, index: 0)
            case .waitPromoteDelay(let term):
                log(.delaying(term: term, delay: commands.promoteDelay))
                loop.schedule(after: commands.promoteDelay) { [weak self] _ in
                    guard let self else { return }
                    self.handle(self.queue.promoteDelayElapsed(term: term))
                }
            case .skipped(let term):
                status.skippedPairs += 1
                log(.skipped(term: term))
            case .resign:
                // Performed on the next loop turn: resigning steps the core, whose office
                // change comes back into this queue; keep that out of this loop's middle.
                loop.schedule(after: .zero) { [weak self] _ in self?.perform(action) }
            case .demoteFinished, .startupFinished:
                perform(action)
            }
        }
        takePendingIfIdle()
    }

    private func runCommand(_ job: HookJob, index: Int) {
        let list = commands.commands(for: job.event)
        guard index < list.count else {
            handle(queue.finished(succeeded: !jobFailed))
            return
        }
        let (name, step) = list[index]
        status.runs += 1
        status.last[name] = HookRunRecord(hook: name, event: job.event, term: job.term, running: true,
                                          result: "", exitCode: nil, duration: .zero)
        let argv: [String]
        switch step {
        case .command(let a): argv = a
        case .unit(let start):
            log(.unitJobStarted(job: job, hook: name, start: start))
            guard let unitJob else {
                commandEnded(job, index: index, name: name,
                             HookOutcome(exit: nil, timedOut: false, duration: .zero, spawnError: "no leader unit controller"))
                return
            }
            unitJob(start) { [weak self] outcome in self?.commandEnded(job, index: index, name: name, outcome) }
            return
        }
        process = HookProcess.start(
            loop: loop, argv: argv, environment: environment(job), timeout: commands.timeout,
            killGrace: commands.killGrace, limits: commands.limits,
            onLine: { [weak self] stream, text in self?.log(.line(job: job, hook: name, stream: stream, text: text)) },
            onExit: { [weak self] outcome in self?.commandEnded(job, index: index, name: name, outcome) })
        if let pid = process?.pid { log(.started(job: job, hook: name, pid: pid)) }
    }

    private func commandEnded(_ job: HookJob, index: Int, name: String, _ outcome: HookOutcome) {
        process = nil
        if !outcome.succeeded {
            jobFailed = true
            status.failures += 1
            if outcome.timedOut { status.timeouts += 1 }
        }
        var code: Int32? = nil
        if case .exited(let c)? = outcome.exit { code = c }
        status.last[name] = HookRunRecord(hook: name, event: job.event, term: job.term, running: false,
                                          result: outcome.summary, exitCode: code, duration: outcome.duration)
        log(.ended(job: job, hook: name, outcome: outcome))
        runCommand(job, index: index + 1)
    }
}
