// Whether this node may campaign (design S4 and issue 6): not before the start-up hook
// finished, not while the application check fails, not during a promote-failure
// back-off, not while stopping. The core still votes and acknowledges while held.
import AgentLogging
import RaftCore

/// CampaignGate is the state behind the decision.
struct CampaignGate {
    var startupDone = false
    /// backoffUntil: a failed promote holds campaigns until then.
    var backoffUntil: Instant? = nil
    var stopping = false
    /// allowed is what the core was last told (it starts allowed).
    var allowed = true
    var heldBy: [String] = []
}

extension AgentDriver {
    /// updateCampaign tells the core when the decision changed.
    func updateCampaign(now: Instant) {
        if let until = gate.backoffUntil, now >= until { gate.backoffUntil = nil }
        var held: [String] = []
        if !gate.startupDone { held.append("startup-hook") }
        if checkTracker?.healthy == false { held.append("check") }
        if gate.backoffUntil != nil { held.append("promote-failure-backoff") }
        if gate.stopping { held.append("stopping") }
        // --witness keeps a node from leading whatever role the group stores for it.
        if settings.witness { held.append("witness") }
        if removed { held.append("removed") }
        // Priority 0 never leads (issue 16): the core sees to it; this says why.
        if priorityZero { held.append("priority-0") }
        let allowed = held.isEmpty
        guard allowed != gate.allowed || held != gate.heldBy else { return }
        gate.heldBy = held
        // Logged when the decision or its reasons change (held by the start-up hook,
        // then by the check, is worth a line each).
        log(allowed ? "campaign-allowed" : "campaign-held", .info,
            allowed ? "this node may campaign" : "this node does not campaign: held by \(held.joined(separator: ", "))",
            held.isEmpty ? [] : [("by", .string(held.joined(separator: ",")))], .always)
        guard allowed != gate.allowed else { return }
        gate.allowed = allowed
        stepCore(.setCampaignAllowed(allowed), now: now)
    }

    func startupFinished(now: Instant) {
        gate.startupDone = true
        if view.phase == .starting { view.phase = .running }
        updateCampaign(now: now)
    }

    /// promoteFailed: `--promote-failure resign` — hand over and hold campaigns for
    /// the back-off, so a node that cannot serve does not keep winning elections.
    func promoteFailed(term: Term, now: Instant) {
        guard raft.office?.term == term else { return }
        if pauseControl.coreHeld {
            log("promote-failed-paused", .warning, "the promote hook failed, but the group is paused: staying in office",
                [], .always, term: term)
            return
        }
        let backoff = settings.hooks.promoteFailureBackoff
        gate.backoffUntil = now + backoff
        if view.lastPromoteFailure != now {
            view.lastPromoteFailure = now
            view.generation &+= 1
        }
        log("promote-failed-resigning", .warning,
            "the promote hook failed: handing over and not campaigning for \(backoff.nanoseconds / 1_000_000_000) s",
            [("backoff_ms", .number(backoff.nanoseconds / 1_000_000))], .always, term: term)
        updateCampaign(now: now)
        if raft.role == .leader {
            logHandOver(reason: LeaveReason.promoteFailed.rawValue, by: "", now: now)
            stepCore(.transferLeadership(to: nil, reason: .promoteFailed), now: now)
        }
    }

    // MARK: The application check

    /// checkResult counts one probe; a change of health holds or frees campaigns, and a
    /// node in office whose check fails hands over.
    func checkResult(passed: Bool, detail: String, duration: Interval, now: Instant) {
        guard var tracker = checkTracker, shutdown == nil else { return }
        let change = tracker.record(passed: passed)
        checkTracker = tracker
        checkView = AgentView.CheckView(healthy: tracker.healthy, consecutiveFailures: tracker.consecutiveFailures,
                                        passes: tracker.passes, failures: tracker.failures,
                                        lastDetail: detail, lastDuration: duration)
        if !passed {
            let inARow = tracker.consecutiveFailures
            log("check-failed", .warning, "the application check failed (\(inARow) in a row): \(detail)",
                [("detail", .string(detail)), ("in_a_row", .number(inARow))])
        }
        guard let healthy = change else { return }
        if healthy {
            log("check-healthy", .notice, "the application check passes: this node may lead", [], .always)
        } else {
            log("check-unhealthy", .warning, "the application check fails: this node does not campaign, and hands over if it leads", [], .always)
        }
        follow(.updateCampaign)
        if !healthy && raft.office != nil {
            if pauseControl.coreHeld {
                log("check-failed-paused", .warning, "the check fails in office, but the group is paused: staying in office until resumed", [], .always)
            } else {
                follow(.handOver(.checkFailed))
            }
        }
    }
}
