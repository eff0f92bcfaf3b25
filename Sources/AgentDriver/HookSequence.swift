// Hooks as the driver runs them (design S4): office changes feed the `HookQueue`; each
// job's steps (on-promote, leader-unit, on-change …) are started one at a time through
// the hook port (DriverParts.swift, shared with the etcd engine's driver); the queue's
// decisions that concern the core (demote finished, start-up done, resign after a
// failed promote) go to the inbox.
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

extension AgentDriver: DriverParts {
    // The hook sequence, the check and the campaign gate's reasons are shared with the
    // etcd engine's driver (DriverParts.swift); these say what they mean for Raft.
    var isStopping: Bool { shutdown != nil }
    var holdsOffice: Bool { raft.office != nil }
    var hookPort: any HookPort { ports.hooks }
    var pausedInOffice: Bool { pauseControl.coreHeld }

    func emit(_ event: @autoclosure () -> LogEvent) { ports.log.event(event()) }

    func follow(part: PartsFollowUp) {
        switch part {
        case .demoteFinished(let term): follow(.demoteFinished(term))
        case .startupFinished: follow(.startupFinished)
        case .promoteFailed(let term): follow(.promoteFailed(term))
        case .handOverForFailedCheck: follow(.handOver(.checkFailed))
        case .updateCampaign: follow(.updateCampaign)
        }
    }

    /// reload takes a SIGHUP's hooks (between jobs) and check.
    func reload(_ r: DriverReload, now: Instant) { reloadParts(r) }

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
