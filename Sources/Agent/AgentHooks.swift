// The agent's side of hooks and checks (issue 6): office changes feed the hook queue;
// the queue's "demote finished", "resign" and "start-up done" go back into the core;
// the check and the start-up run decide whether this node may campaign.
import AgentLogging
import AgentConfig
public import Hooks
import HookSyntax
import EventLoop
import Posix
import RaftCore
import Systemd
public import Time

/// CheckStatus is what /status and /metrics show about the application check.
public struct CheckStatus: Hashable, Sendable {
    public var healthy: Bool
    public var consecutiveFailures: Int
    public var passes: UInt64
    public var failures: UInt64
    public var lastDetail: String
    public var lastDuration: Interval
}

/// AgentHooks holds the hook runner, the check and the reasons this node is held back
/// from campaigning. Lives on the loop thread with its agent.
final class AgentHooks {
    unowned let agent: Agent
    let runner: HookRunner
    private(set) var check: HealthCheck?
    private let inheritedEnvironment: [String]
    /// hookBaseEnvironment is what every hook and check starts from: the inherited
    /// environment with the application's variables from `--config` (changed by SIGHUP).
    private var hookBaseEnvironment: [String]

    private(set) var startupDone = false
    private var backoffUntil = Instant.zero
    /// When this node last resigned for a failed promote hook (nil: never):
    /// LeaderlessWarning reads it.
    private(set) var lastPromoteFailure: Instant? = nil
    private(set) var stopping = false
    private var campaignAllowed = true
    /// The term in which a TimeoutNow arrived: an office entered in the next term came
    /// from a transfer (`BATON_REASON=transfer`), otherwise from an election.
    private var timeoutNowTerm: Term? = nil
    /// The last leader other than this node, and the leader before each office began.
    private var lastOtherLeader: NodeID? = nil
    private var previousLeaderByTerm: [Term: NodeID] = [:]

    init(agent: Agent) throws {
        self.agent = agent
        let h = agent.settings.hooks
        var commands = HookCommands(onPromote: h.onPromote, onDemote: h.onDemote, onChange: h.onChange,
                                    timeout: h.hookTimeout, promoteDelay: h.promoteDelay)
        commands.leaderUnit = h.leaderUnit
        runner = HookRunner(loop: agent.loop, commands: commands, resignOnPromoteFailure: h.promoteFailure == .resign)
        // Hooks inherit PATH, HOME and the rest, but not our own BATON_* settings nor
        // systemd's notify variables (HookEnvironment).
        inheritedEnvironment = HookEnvironment.inherited()
        hookBaseEnvironment = HookEnvironment.base(inherited: inheritedEnvironment, application: agent.settings.hookEnvironment)
        check = try Self.makeCheck(h, loop: agent.loop, startHealthy: false)
        runner.environment = { [unowned self] job in self.environment(for: job) }
        runner.log = { [unowned self] entry in self.log(entry) }
        runner.perform = { [unowned self] action in self.perform(action) }
        if h.leaderUnit != nil {
            runner.unitJob = { [unowned self] start, done in
                guard let systemd = self.agent.systemd else {
                    return done(HookOutcome(exit: nil, timedOut: false, duration: .zero, spawnError: "systemd link not started"))
                }
                systemd.unitJob(start: start, done: done)
            }
        }
        wire(check)
    }

    /// makeCheck builds the application check the settings describe (nil without one).
    private static func makeCheck(_ h: HookSettings, loop: EventLoop, startHealthy: Bool) throws(ConfigError) -> HealthCheck? {
        let interval = h.checkInterval
        if let argv = h.check {
            return HealthCheck(loop: loop, probe: .command(argv), interval: interval,
                               failuresToFail: h.checkFailures, timeout: interval, startHealthy: startHealthy)
        }
        guard let url = h.checkURL else { return nil }
        let target: HTTPCheckTarget
        do { target = try HTTPCheckTarget.resolve(url) } catch { throw ConfigError(flag: "--check-url", error.message) }
        return HealthCheck(loop: loop, probe: .url(target), interval: interval,
                           failuresToFail: h.checkFailures, timeout: interval, startHealthy: startHealthy)
    }

    private func wire(_ check: HealthCheck?) {
        check?.environment = { [unowned self] in self.hookBaseEnvironment + ["BATON_NODE_ID=\(self.agent.settings.id)"] }
        check?.onResult = { [unowned self, unowned check] passed, detail in
            guard let check, check === self.check else { return }
            if !passed {
                let inARow = check.tracker.consecutiveFailures + 1
                self.agent.log.event("check-failed", .warning, "the application check failed (\(inARow) in a row): \(detail)",
                                     [("detail", .string(detail)), ("in_a_row", .number(inARow))])
            }
        }
        check?.onChange = { [unowned self, unowned check] healthy in
            guard let check, check === self.check else { return }
            self.checkChanged(healthy)
        }
    }

    /// reload takes new hook and check settings (SIGHUP; validated by the caller). A
    /// replaced check keeps the health the old one had (no check counts as healthy), so a
    /// reload by itself never makes a leader hand over; the next results decide.
    func reload(_ settings: AgentSettings) throws(ConfigError) {
        let h = settings.hooks, old = agent.settings.hooks
        let checkChanged = h.check != old.check || h.checkURL != old.checkURL
            || h.checkInterval != old.checkInterval || h.checkFailures != old.checkFailures
        let newCheck = checkChanged ? try Self.makeCheck(h, loop: agent.loop, startHealthy: check?.healthy ?? true) : check
        var commands = HookCommands(onPromote: h.onPromote, onDemote: h.onDemote, onChange: h.onChange,
                                    timeout: h.hookTimeout, promoteDelay: h.promoteDelay)
        commands.leaderUnit = runner.commands.leaderUnit
        runner.update(commands: commands, resignOnPromoteFailure: h.promoteFailure == .resign)
        hookBaseEnvironment = HookEnvironment.base(inherited: inheritedEnvironment, application: settings.hookEnvironment)
        if checkChanged {
            check?.stop()
            check = newCheck
            wire(check)
            if !stopping { check?.start() }
            updateCampaign()
        }
    }

    /// start holds campaigning back, then runs the start-up hook and the check.
    func start() {
        updateCampaign()
        runner.begin()
        check?.start()
    }

    // MARK: Inputs from the agent

    /// noteEvent watches the core's inputs for TimeoutNow (the transfer that makes the
    /// next office's reason "transfer").
    func noteEvent(_ event: Event) {
        if case .message(let m) = event, case .timeoutNow = m.body { timeoutNowTerm = m.term }
    }

    /// afterApply runs once a step's Ready is fully applied: office changes go to the
    /// queue here, so whatever the queue steps in return happens after that Ready.
    func afterApply(_ changes: [OfficeChange]) {
        for change in changes {
            switch change {
            case .enter(let term, _, _, _):
                if let l = lastOtherLeader { previousLeaderByTerm[term] = l }
                let reason = timeoutNowTerm.map { $0 + 1 == term } == true ? "transfer" : "election"
                runner.officeEntered(term: term, reason: reason)
                if let check, !check.healthy { handOver(.checkFailed) }
            case .leave(let term, let reason):
                runner.officeLeft(term: term, reason: reason.rawValue)
            }
        }
        if let l = agent.raft.leader, l != agent.me { lastOtherLeader = l }
    }

    /// beginStopping: no more campaigns; a leader's hand-over is the agent's to start.
    func beginStopping() {
        stopping = true
        check?.stop()
        updateCampaign()
    }

    var isIdle: Bool { runner.isIdle }

    // MARK: Status

    var checkStatus: CheckStatus? {
        check.map { c in
            CheckStatus(healthy: c.healthy, consecutiveFailures: c.tracker.consecutiveFailures,
                        passes: c.tracker.passes, failures: c.tracker.failures,
                        lastDetail: c.lastDetail, lastDuration: c.lastDuration)
        }
    }

    // MARK: Decisions

    private func perform(_ action: HookAction) {
        switch action {
        case .demoteFinished(let term):
            agent.step(.demoteFinished(term: term))
        case .startupFinished:
            startupDone = true
            // Storage is loaded and the listeners are bound (start ran before the hook).
            agent.systemd?.ready()
            updateCampaign()
        case .resign(let term):
            guard agent.raft.office?.term == term else { return }
            let backoff = HookSettings.promoteFailureBackoff
            backoffUntil = Clock.now() + backoff
            lastPromoteFailure = Clock.now()
            agent.log.event("promote-failed-resigning", .warning, "the promote hook failed: handing over and not campaigning for \(backoff.nanoseconds / 1_000_000_000) s",
                            [("backoff_ms", .number(backoff.wholeMilliseconds))], .always, term: term)
            updateCampaign()
            agent.loop.schedule(at: backoffUntil + Interval(nanoseconds: 1)) { [weak self] _ in self?.updateCampaign() }
            handOver(.promoteFailed)
        case .start, .waitPromoteDelay, .skipped:
            break
        }
    }

    private func checkChanged(_ healthy: Bool) {
        if healthy {
            agent.log.event("check-healthy", .notice, "the application check passes: this node may lead", [], .always)
        } else {
            agent.log.event("check-unhealthy", .warning, "the application check fails: this node does not campaign, and hands over if it leads", [], .always)
        }
        updateCampaign()
        if !healthy && agent.raft.office != nil { handOver(.checkFailed) }
    }

    private func handOver(_ reason: LeaveReason) {
        guard agent.raft.role == .leader else { return }
        agent.step(.transferLeadership(to: nil, reason: reason))
    }

    /// updateCampaign tells the core whether this node may campaign: not before the
    /// start-up hook finished, not while the check fails, not during a promote-failure
    /// back-off, not while stopping.
    private func updateCampaign() {
        let allowed = startupDone && (check?.healthy ?? true) && Clock.now() >= backoffUntil && !stopping
        guard allowed != campaignAllowed else { return }
        campaignAllowed = allowed
        var held: [String] = []
        if !startupDone { held.append("startup-hook") }
        if check?.healthy == false { held.append("check") }
        if Clock.now() < backoffUntil { held.append("promote-failure-backoff") }
        if stopping { held.append("stopping") }
        agent.log.event(allowed ? "campaign-allowed" : "campaign-held", .info,
                        allowed ? "this node may campaign" : "this node does not campaign: held by \(held.joined(separator: ", "))",
                        held.isEmpty ? [] : [("by", .string(held.joined(separator: ",")))], .always)
        agent.step(.setCampaignAllowed(allowed))
    }

    // MARK: Environment and log

    private func name(_ id: NodeID?) -> String { id.flatMap { agent.nameOf[$0] } ?? "" }

    private func environment(for job: HookJob) -> [String] {
        let me = agent.settings.id
        let leader: String, previous: String
        var leaseMs: Int64 = 0
        switch job.event {
        case .promote:
            leader = me
            previous = name(previousLeaderByTerm[job.term])
            if let office = agent.raft.office, office.term == job.term { leaseMs = office.leaseDeadline.nanoseconds / 1_000_000 }
        case .demote:
            let now = agent.raft.leader
            leader = now == agent.me ? "" : name(now)
            previous = me
            previousLeaderByTerm[job.term] = nil
        case .startup:
            leader = name(agent.raft.leader)
            previous = ""
        }
        // The start-up run has no office of its own: it gets the term this node restarted in.
        return hookBaseEnvironment + HookEnvironment.transition(
            event: job.event.rawValue, node: me, term: job.event == .startup ? agent.raft.term : job.term,
            leader: leader, previousLeader: previous, reason: job.reason, leaseDeadlineMs: leaseMs)
    }

    private func log(_ entry: HookLogEntry) {
        switch entry {
        case .started(let job, let hook, let pid):
            agent.log.event("hook-start", .info, "\(hook) started for \(job.event.rawValue), term \(job.term) (pid \(pid))",
                            [("hook", .string(hook)), ("hook_event", .string(job.event.rawValue)), ("token", .number(job.term)),
                             ("reason", .string(job.reason)), ("pid", .number(pid))], .always)
        case .unitJobStarted(let job, let hook, let start):
            let unit = agent.settings.hooks.leaderUnit ?? ""
            agent.log.event("hook-start", .info, "\(start ? "starting" : "stopping") \(unit) for \(job.event.rawValue), term \(job.term)",
                            [("hook", .string(hook)), ("hook_event", .string(job.event.rawValue)), ("token", .number(job.term)),
                             ("reason", .string(job.reason)), ("unit", .string(unit)), ("action", start ? "start" : "stop")], .always)
        case .line(let job, let hook, let stream, let text):
            agent.log.event("hook-output", .info, "\(hook): \(text)",
                            [("hook", .string(hook)), ("token", .number(job.term)), ("stream", .string(stream.rawValue)), ("line", .string(text))], .always)
        case .ended(let job, let hook, let outcome):
            var fields: LogFields = [("hook", .string(hook)), ("hook_event", .string(job.event.rawValue)), ("token", .number(job.term)),
                                     ("result", .string(outcome.summary)), ("ok", .bool(outcome.succeeded)),
                                     ("duration_ms", .milliseconds(fromNanoseconds: outcome.duration.nanoseconds))]
            if outcome.droppedBytes > 0 { fields.append(("output_dropped_bytes", .number(outcome.droppedBytes))) }
            agent.apiState.metrics.recordHook(hook, succeeded: outcome.succeeded, duration: outcome.duration)
            agent.log.event("hook-end", outcome.succeeded ? .info : .warning,
                            "\(hook) for \(job.event.rawValue), term \(job.term): \(outcome.summary) after \(outcome.duration.wholeMilliseconds) ms", fields, .always)
        case .skipped(let t):
            agent.log.event("hook-skipped", .notice, "office of term \(t) ended before its promote hook could start: promote and demote both skipped",
                            [("token", .number(t))], .essential)
        case .delaying(let t, let delay):
            agent.log.event("hook-promote-delay", .info, "waiting \(delay.wholeMilliseconds) ms (--promote-delay) before the promote hook of term \(t)",
                            [("token", .number(t)), ("delay_ms", .number(delay.wholeMilliseconds))], .always)
        }
    }
}

extension Agent {
    /// hookStatus: the last run of each hook and the run/failure counters.
    public var hookStatus: HookStatus { hooks?.runner.status ?? HookStatus() }
    /// checkStatus: the application check's state; nil without `--check`/`--check-url`.
    public var checkStatus: CheckStatus? { hooks?.checkStatus }
    /// startupHookFinished: the start-up demote hook has run (sd_notify READY=1 waits for it).
    public var startupHookFinished: Bool { hooks?.startupDone ?? false }
}
