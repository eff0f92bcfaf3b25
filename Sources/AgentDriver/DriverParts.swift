// The parts of a driver that do not depend on its election engine: the hook sequence,
// the application check, the campaign gate's reasons and the part of the view they fill.
// They are written once for every engine's driver (the Raft group's `AgentDriver`, the
// etcd engine's `EtcdAgentDriver`, design §3 "Engines"); a driver provides the state they
// keep and says what their consequences mean for its engine (`follow(part:)`), which it
// handles after the current step, never re-entering its engine (style rule 21).
import AgentLogging
import RaftCore

/// PartsFollowUp is a consequence the shared parts ask their driver to handle.
enum PartsFollowUp: Hashable {
    /// The demote hook of the office with this token finished (or was skipped with its
    /// promote): the engine may now let a successor in.
    case demoteFinished(UInt64)
    /// The start-up run is over: the node may campaign once nothing else holds it.
    case startupFinished
    /// The promote of this office failed and the policy is resign.
    case promoteFailed(UInt64)
    /// The check fails while this node holds office: hand over.
    case handOverForFailedCheck
    /// Recompute whether this node may campaign.
    case updateCampaign
}

/// PartsSettings are the settings the shared parts read and a SIGHUP changes.
protocol PartsSettings {
    var hooks: HookPlan { get set }
    var checkConfigured: Bool { get set }
    var checkFailuresToFail: Int { get set }
}

extension DriverSettings: PartsSettings {}
extension EtcdDriverSettings: PartsSettings {}

/// DriverParts is what the engine-independent parts need from the driver holding them.
protocol DriverParts: AnyObject {
    associatedtype Settings: PartsSettings
    var settings: Settings { get set }
    var hookSequence: HookSequence { get set }
    var pendingPlan: HookPlan? { get set }
    var checkTracker: CheckTracker? { get set }
    var checkView: AgentView.CheckView? { get set }
    var gate: CampaignGate { get set }
    var view: AgentView { get set }
    /// isStopping: shutdown began (the check's results no longer count).
    var isStopping: Bool { get }
    /// holdsOffice: the engine has this node in office (its lease may be checked later).
    var holdsOffice: Bool { get }
    var hookPort: any HookPort { get }
    /// pausedInOffice: an operator's pause keeps this node in office whatever its check
    /// or promote say (issue 16; the Raft engine's replicated pause).
    var pausedInOffice: Bool { get }
    /// noteHookOutcome records a finished hook step where the engine keeps history.
    func noteHookOutcome(event: HookEvent, term: UInt64, hook: String, _ outcome: HookStepOutcome)
    /// hookEnvironment is the transition's `BATON_*` variables for `job` (the engine
    /// knows the token, the leaders and the lease).
    func hookEnvironment(_ job: HookJob) -> [String]
    func follow(part: PartsFollowUp)
    func emit(_ event: @autoclosure () -> LogEvent)
}

// MARK: The hook sequence (design S4)

extension DriverParts {
    /// reloadParts takes a SIGHUP's hooks (between jobs) and check.
    func reloadParts(_ r: DriverReload) {
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
        follow(part: .updateCampaign)
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
        perform(hookSequence.queue.begin(), now: now)
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
                emit(LogEvent("hook-promote-delay", .info, "waiting \(ms) ms (--promote-delay) before the promote hook of term \(term)",
                              [("token", .number(term)), ("delay_ms", .number(ms))], .always))
            case .skipped(let term):
                hookSequence.status.skippedPairs += 1
                hookSequence.previousLeader[term] = nil
                emit(LogEvent("hook-skipped", .notice, "office of term \(term) ended before its promote hook could start: promote and demote both skipped",
                              [("token", .number(term))], .essential))
            case .demoteFinished(let term):
                follow(part: .demoteFinished(term))
            case .resign(let term):
                follow(part: .promoteFailed(term))
            case .startupFinished:
                follow(part: .startupFinished)
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
        hookPort.start(HookStepRequest(run: run, hook: hook, job: job, step: step,
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
}

// MARK: The campaign gate's reasons and the application check

extension DriverParts {
    /// campaignDecision recomputes what holds campaigns back and logs a change of the
    /// decision or of its reasons; returns the new decision when the engine must be told.
    /// `engineHolds` are the engine's own reasons (the Raft group's witness, a removed member).
    func campaignDecision(now: Instant, engineHolds: [String] = []) -> Bool? {
        if let until = gate.backoffUntil, now >= until { gate.backoffUntil = nil }
        var held: [String] = []
        if !gate.startupDone { held.append("startup-hook") }
        if checkTracker?.healthy == false { held.append("check") }
        if gate.backoffUntil != nil { held.append("promote-failure-backoff") }
        if gate.stopping { held.append("stopping") }
        held += engineHolds
        // Issue 16's pause will hold campaigns here too ("paused"), for every engine.
        let allowed = held.isEmpty
        guard allowed != gate.allowed || held != gate.heldBy else { return nil }
        gate.heldBy = held
        // Logged when the decision or its reasons change (held by the start-up hook,
        // then by the check, is worth a line each).
        emit(LogEvent(allowed ? "campaign-allowed" : "campaign-held", .info,
                      allowed ? "this node may campaign" : "this node does not campaign: held by \(held.joined(separator: ", "))",
                      held.isEmpty ? [] : [("by", .string(held.joined(separator: ",")))], .always))
        guard allowed != gate.allowed else { return nil }
        gate.allowed = allowed
        return allowed
    }

    /// noteStartupFinished: the start-up run is over (campaigns follow from the gate).
    func noteStartupFinished() {
        gate.startupDone = true
        if view.phase == .starting { view.phase = .running }
    }

    /// startPromoteFailureBackoff: `--promote-failure resign` — hold campaigns for the
    /// back-off, so a node that cannot serve does not keep winning; the caller hands over.
    func startPromoteFailureBackoff(token: UInt64, now: Instant) {
        let backoff = settings.hooks.promoteFailureBackoff
        gate.backoffUntil = now + backoff
        if view.lastPromoteFailure != now {
            view.lastPromoteFailure = now
            view.generation &+= 1
        }
        emit(LogEvent("promote-failed-resigning", .warning,
                      "the promote hook failed: handing over and not campaigning for \(backoff.nanoseconds / 1_000_000_000) s",
                      [("backoff_ms", .number(backoff.nanoseconds / 1_000_000))], .always, term: token))
    }

    /// checkResult counts one probe; a change of health holds or frees campaigns, and a
    /// node in office whose check fails hands over.
    func checkResult(passed: Bool, detail: String, duration: Interval, now: Instant) {
        guard var tracker = checkTracker, !isStopping else { return }
        let change = tracker.record(passed: passed)
        checkTracker = tracker
        checkView = AgentView.CheckView(healthy: tracker.healthy, consecutiveFailures: tracker.consecutiveFailures,
                                        passes: tracker.passes, failures: tracker.failures,
                                        lastDetail: detail, lastDuration: duration)
        if !passed {
            let inARow = tracker.consecutiveFailures
            emit(LogEvent("check-failed", .warning, "the application check failed (\(inARow) in a row): \(detail)",
                          [("detail", .string(detail)), ("in_a_row", .number(inARow))]))
        }
        guard let healthy = change else { return }
        if healthy {
            emit(LogEvent("check-healthy", .notice, "the application check passes: this node may lead", [], .always))
        } else {
            emit(LogEvent("check-unhealthy", .warning, "the application check fails: this node does not campaign, and hands over if it leads", [], .always))
        }
        follow(part: .updateCampaign)
        if !healthy && holdsOffice {
            if pausedInOffice {
                emit(LogEvent("check-failed-paused", .warning, "the check fails in office, but the group is paused: staying in office until resumed", [], .always))
            } else {
                follow(part: .handOverForFailedCheck)
            }
        }
    }

    /// refreshPartsView sets the view's fields the shared parts own; true if any changed.
    func refreshPartsView() -> Bool {
        var changed = false
        if view.campaignAllowed != gate.allowed { view.campaignAllowed = gate.allowed; changed = true }
        if view.campaignHeldBy != gate.heldBy { view.campaignHeldBy = gate.heldBy; changed = true }
        if view.startupFinished != gate.startupDone { view.startupFinished = gate.startupDone; changed = true }
        if view.hooks != hookSequence.status { view.hooks = hookSequence.status; changed = true }
        if view.hooksIdle != hookSequence.isIdle { view.hooksIdle = hookSequence.isIdle; changed = true }
        if view.check != checkView { view.check = checkView; changed = true }
        return changed
    }
}
