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
    /// updateCampaign tells the core when the decision changed (DriverParts.swift).
    func updateCampaign(now: Instant) {
        // --witness keeps a node from leading whatever role the group stores for it.
        var engineHolds: [String] = []
        if settings.witness { engineHolds.append("witness") }
        if removed { engineHolds.append("removed") }
        // Priority 0 never leads (issue 16): the core sees to it; this says why.
        #if BATON_FAULT_INJECTION
        let ignorePriority = settings.raft.injectedBugs.contains(.priorityZeroCampaigns)
        #else
        let ignorePriority = false
        #endif
        if priorityZero && !ignorePriority { engineHolds.append("priority-0") }
        guard let allowed = campaignDecision(now: now, engineHolds: engineHolds) else { return }
        stepCore(.setCampaignAllowed(allowed), now: now)
    }

    func startupFinished(now: Instant) {
        noteStartupFinished()
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
        startPromoteFailureBackoff(token: term, now: now)
        updateCampaign(now: now)
        if raft.role == .leader {
            logHandOver(reason: LeaveReason.promoteFailed.rawValue, by: "", now: now)
            stepCore(.transferLeadership(to: nil, reason: .promoteFailed), now: now)
        }
    }
}
