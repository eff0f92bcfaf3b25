// Hooks as the driver runs them (design S4): office changes feed the `HookQueue`; each
// job's steps (on-promote, leader-unit, on-change …) are started one at a time through
// the hook port; the queue's decisions that concern the core (demote finished, start-up
// done, resign after a failed promote) go to the inbox.
import AgentLogging
import RaftCore

/// HookSequence is the queue and the job in progress.
struct HookSequence {
    var queue: HookQueue
    /// The job whose steps run now, the index of the running step, its run id, and
    /// whether a step of the job failed.
    var job: HookJob? = nil
    var stepIndex = 0
    var running: RunID? = nil
    var jobFailed = false
    var nextRun: RunID = 1
    /// delayUntil: `--promote-delay` runs until then (its term in `delayTerm`).
    var delayUntil: Instant? = nil
    var delayTerm: Term = 0
    var status = HookStatus()
    /// previousLeader of each office entered, for BATON_PREVIOUS_LEADER_ID.
    var previousLeader: [Term: NodeID] = [:]
    /// announcedLeader: the leader the last queued job is about (this node for its own
    /// office); a change run is queued when the known leader becomes another node.
    var announcedLeader: NodeID? = nil
    /// toldLeader: the BATON_LEADER_ID the application was last given, which a change
    /// run passes as BATON_PREVIOUS_LEADER_ID.
    var toldLeader = ""

    init(plan: HookPlan) {
        queue = HookQueue(promoteDelayed: plan.promoteDelay > .zero, resignOnPromoteFailure: plan.resignOnPromoteFailure)
    }

    var isIdle: Bool { queue.isIdle }
}

extension AgentDriver {
    /// reload takes a SIGHUP's hooks (between jobs) and check.
    func reload(_ r: DriverReload, now: Instant) {
        var plan = r.hooks
        plan.leaderUnit = settings.hooks.leaderUnit
        pendingPlan = plan
        takePendingPlanIfIdle()
        guard r.checkReplaced else { return }
        let healthy = checkTracker?.healthy ?? true
        settings.checkConfigured = r.checkConfigured
        settings.checkFailuresToFail = r.checkFailuresToFail
        if r.checkConfigured {
            checkTracker = CheckTracker(failuresToFail: r.checkFailuresToFail, healthy: healthy)
            checkView = AgentView.CheckView(healthy: healthy, consecutiveFailures: 0, passes: 0, failures: 0,
                                            lastDetail: "", lastDuration: .zero)
        } else {
            checkTracker = nil
            checkView = nil
        }
        follow(.updateCampaign)
    }

    /// takePendingPlanIfIdle: a job keeps the commands it started with, so its promote
    /// and demote steps stay one set; new ones are taken when no job runs or waits.
    func takePendingPlanIfIdle() {
        guard let plan = pendingPlan, hookSequence.isIdle, hookSequence.job == nil else { return }
        pendingPlan = nil
        settings.hooks = plan
        hookSequence.queue.promoteDelayed = plan.promoteDelay > .zero
        hookSequence.queue.resignOnPromoteFailure = plan.resignOnPromoteFailure
    }

    /// startHooks begins the start-up run (`BATON_EVENT=startup`).
    func startHooks(now: Instant) {
        hookSequence.announcedLeader = raft.leader
        perform(hookSequence.queue.begin(), now: now)
    }

    /// officeChanged hands one office change to the queue (after its Ready was applied).
    func officeChanged(_ change: OfficeChange, now: Instant) {
        switch change {
        case .enter(let term, _, let reason, let previous):
            hookSequence.previousLeader[term] = previous
            hookSequence.announcedLeader = me
            perform(hookSequence.queue.officeEntered(term: term, reason: reason.rawValue), now: now)
            // A node whose check fails may still win (it was healthy when it campaigned):
            // it hands over at once.
            if checkTracker?.healthy == false { follow(.handOver(.checkFailed)) }
        case .leave(let term, let reason):
            perform(hookSequence.queue.officeLeft(term: term, reason: reason.rawValue), now: now)
        }
    }

    /// announceLeaderChange queues a `change` run (`--on-change` alone, BATON_EVENT=change)
    /// when the leader this node knows becomes another node than the one the hooks were
    /// last told of: a follower's or an observer's application follows the leader. No
    /// run while no leader is known (an election), nor for the same leader learnt again.
    func announceLeaderChange(now: Instant) {
        guard settings.hooks.onChange != nil, shutdown == nil, let leader = raft.leader, leader != me,
              leader != hookSequence.announcedLeader else { return }
        hookSequence.announcedLeader = leader
        perform(hookSequence.queue.leaderChanged(term: raft.term, reason: "leader-changed"), now: now)
    }

    /// perform carries out the queue's actions.
    func perform(_ actions: [HookAction], now: Instant) {
        for action in actions {
            switch action {
            case .start(let job):
                hookSequence.job = job
                hookSequence.stepIndex = 0
                hookSequence.jobFailed = false
                startStep(now: now)
            case .waitPromoteDelay(let term):
                hookSequence.delayUntil = now + settings.hooks.promoteDelay
                hookSequence.delayTerm = term
                let ms = settings.hooks.promoteDelay.nanoseconds / 1_000_000
                log("hook-promote-delay", .info, "waiting \(ms) ms (--promote-delay) before the promote hook of term \(term)",
                    [("token", .number(term)), ("delay_ms", .number(ms))], .always)
            case .skipped(let term):
                hookSequence.status.skippedPairs += 1
                hookSequence.previousLeader[term] = nil
                log("hook-skipped", .notice, "office of term \(term) ended before its promote hook could start: promote and demote both skipped",
                    [("token", .number(term))], .essential)
            case .demoteFinished(let term):
                follow(.demoteFinished(term))
            case .resign(let term):
                follow(.promoteFailed(term))
            case .startupFinished:
                follow(.startupFinished)
            }
        }
    }

    /// hookTimers ends a `--promote-delay` that has run out.
    func hookTimers(now: Instant) {
        guard let until = hookSequence.delayUntil, now >= until else { return }
        hookSequence.delayUntil = nil
        perform(hookSequence.queue.promoteDelayElapsed(term: hookSequence.delayTerm), now: now)
    }

    /// startStep starts the current job's next step, or ends the job.
    private func startStep(now: Instant) {
        guard let job = hookSequence.job else { return }
        let steps = settings.hooks.steps(for: job.event)
        guard hookSequence.stepIndex < steps.count else {
            hookSequence.job = nil
            let failed = hookSequence.jobFailed
            if job.event == .promote { hookSequence.previousLeader[job.term] = nil }
            perform(hookSequence.queue.finished(succeeded: !failed), now: now)
            return
        }
        let (hook, step) = steps[hookSequence.stepIndex]
        let run = hookSequence.nextRun
        hookSequence.nextRun += 1
        hookSequence.running = run
        hookSequence.status.runs += 1
        hookSequence.status.last[hook] = HookRunRecord(hook: hook, event: job.event, term: job.term, running: true,
                                                       result: "", exitCode: nil, duration: .zero)
        ports.hooks.start(HookStepRequest(run: run, hook: hook, job: job, step: step,
                                          environment: hookEnvironment(job), timeout: settings.hooks.timeout))
    }

    /// hookStepFinished records a step's end and starts the next.
    func hookStepFinished(_ run: RunID, _ outcome: HookStepOutcome, now: Instant) {
        guard run == hookSequence.running, let job = hookSequence.job else { return }
        hookSequence.running = nil
        let steps = settings.hooks.steps(for: job.event)
        let hook = steps[hookSequence.stepIndex].hook
        if !outcome.succeeded {
            hookSequence.jobFailed = true
            hookSequence.status.failures += 1
            if outcome.timedOut { hookSequence.status.timeouts += 1 }
        }
        hookSequence.status.last[hook] = HookRunRecord(
            hook: hook, event: job.event, term: job.term, running: false, result: outcome.summary,
            exitCode: outcome.exitCode, duration: outcome.duration)
        noteHookOutcome(event: job.event, term: job.term, hook: hook, outcome)
        hookSequence.stepIndex += 1
        startStep(now: now)
    }

    /// hookEnvironment is the transition's `BATON_*` variables, read when each step
    /// starts (so the leader names are current).
    func hookEnvironment(_ job: HookJob) -> [String] {
        let me = settings.name
        let leader: String, previous: String
        var leaseMs: Int64 = 0
        switch job.event {
        case .promote:
            leader = me
            previous = name(hookSequence.previousLeader[job.term]) ?? ""
            if let office = raft.office, office.term == job.term { leaseMs = office.leaseDeadline.nanoseconds / 1_000_000 }
        case .demote:
            let now = raft.leader
            leader = now == self.me ? "" : (name(now) ?? "")
            previous = me
        case .startup:
            leader = name(raft.leader) ?? ""
            previous = ""
        case .change:
            leader = name(raft.leader) ?? ""
            previous = hookSequence.toldLeader
        }
        hookSequence.toldLeader = leader
        // The start-up run has no office of its own: it gets the term this node restarted in.
        return HookTransition.environment(event: job.event.rawValue, node: me, term: job.event == .startup ? raft.term : job.term,
                                          leader: leader, previousLeader: previous, reason: job.reason, leaseDeadlineMs: leaseMs)
    }
}
