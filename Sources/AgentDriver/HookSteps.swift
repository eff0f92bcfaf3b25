// One step of a hook job as the driver sees it: what to run, and how it ended. The
// shell runs exactly one step at a time (a process, or a leader-unit job) and reports
// its outcome; the driver decides what comes next.
public import RaftCore

/// HookStep is one thing a hook job does: run a command, or start/stop the leader unit.
public enum HookStep: Hashable, Sendable {
    case command([String])
    case unit(start: Bool)
}

/// RunID names one started step; its completion carries it back.
public typealias RunID = UInt64

/// HookStepRequest is what the driver asks the hook port to run.
public struct HookStepRequest: Hashable, Sendable {
    public var run: RunID
    /// hook is the configured hook's name: `on-promote`, `on-demote`, `on-change`, `leader-unit`.
    public var hook: String
    public var job: HookJob
    public var step: HookStep
    /// environment holds the transition's `BATON_*` variables only; the shell adds the
    /// inherited environment.
    public var environment: [String]
    /// timeout: the executor sends SIGTERM then, SIGKILL a kill grace later, and
    /// reports `timedOut`.
    public var timeout: Interval

    public init(run: RunID, hook: String, job: HookJob, step: HookStep, environment: [String], timeout: Interval) {
        self.run = run; self.hook = hook; self.job = job; self.step = step
        self.environment = environment; self.timeout = timeout
    }
}

/// HookStepOutcome is how one step ended.
public struct HookStepOutcome: Hashable, Sendable {
    /// succeeded: exit status 0 (or the unit job done) within the timeout.
    public var succeeded: Bool
    public var timedOut: Bool
    /// exitCode is the exit status when the process exited normally.
    public var exitCode: Int32?
    /// summary is what the log and /status show: `exit 0`, `exit 3`, `signal 9`,
    /// `timeout (signal 15)`, `not started: …`.
    public var summary: String
    public var duration: Interval

    public init(succeeded: Bool, timedOut: Bool = false, exitCode: Int32? = nil, summary: String, duration: Interval) {
        self.succeeded = succeeded; self.timedOut = timedOut; self.exitCode = exitCode
        self.summary = summary; self.duration = duration
    }

    /// ok is a step that exited 0 after `duration`.
    public static func ok(_ duration: Interval = .zero) -> HookStepOutcome {
        HookStepOutcome(succeeded: true, exitCode: 0, summary: "exit 0", duration: duration)
    }
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

    public init(hook: String, event: HookEvent, term: UInt64, running: Bool, result: String, exitCode: Int32?, duration: Interval) {
        self.hook = hook; self.event = event; self.term = term; self.running = running
        self.result = result; self.exitCode = exitCode; self.duration = duration
    }
}

/// HookStatus is what /status and /metrics show about hooks.
public struct HookStatus: Hashable, Sendable {
    /// The last (or current) run of each hook, keyed by `on-promote`, `on-demote`, `on-change`.
    public var last: [String: HookRunRecord] = [:]
    /// Steps run, and how many of them failed (non-zero, signal, timeout, not started).
    public var runs: UInt64 = 0
    public var failures: UInt64 = 0
    public var timeouts: UInt64 = 0
    /// Promote/demote pairs skipped because the office ended before the promote started.
    public var skippedPairs: UInt64 = 0

    public init() {}
}

/// HookTransition is what a hook learns of its transition (README "Hooks"), built in one
/// place for the agent and for `baton hook-test`.
public enum HookTransition {
    public static func environment(event: String, node: String, term: UInt64, leader: String, previousLeader: String,
                                   reason: String, leaseDeadlineMs: Int64) -> [String] {
        ["BATON_EVENT=\(event)", "BATON_NODE_ID=\(node)", "BATON_TERM=\(term)",
         "BATON_LEADER_ID=\(leader)", "BATON_PREVIOUS_LEADER_ID=\(previousLeader)", "BATON_REASON=\(reason)",
         "BATON_LEASE_DEADLINE_MS=\(leaseDeadlineMs)"]
    }
}
