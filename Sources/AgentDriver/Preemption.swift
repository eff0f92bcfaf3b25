// Priority and preemption (issue 16): among the members that can lead, the highest
// priority should. The core already orders early campaigns by priority and never lets
// a priority-0 member campaign or take a transfer; this file adds the rest:
// - a leader hands over (the existing transfer: demote before promote) to a member of
//   higher priority that has been caught up and healthy (it says it would take over)
//   for `preemptAfter`, unless `--no-preempt` or the group is paused;
// - `--priority 0` holds this node back at once (whatever the membership says yet),
//   and /status says so (campaign held by priority-0);
// - a `--priority` that differs from the stored one is warned about, naming the
//   logged change that sets it ('baton members set').
//
// A limit of priority 0 (as of witnesses): a priority-0 voter still votes, so if the
// leader dies when its newest entry reached only such a voter, that voter holds the
// longest log, refuses its vote to the others and may not lead itself; the group waits
// without a leader until a member that has the entry comes back (the dead leader on
// restart). The agent tests kill leaders in a steady state for this reason.
import AgentLogging
import RaftCore

/// PreemptWatch is the higher-priority member a leader is waiting to hand over to.
struct PreemptWatch: Equatable {
    var target: NodeID
    /// since: when it was first seen caught up and healthy (continuously since).
    var since: Instant
}

extension AgentDriver {
    /// priorityZero: this node must never lead, by its flag or by the membership.
    var priorityZero: Bool { settings.priorityFlag == 0 || raft.selfMember?.priority == 0 }

    /// updatePriority runs after every input: the priority-0 hold, the flag warning,
    /// and on a leader the preemption watch.
    func updatePriority(now: Instant) {
        if priorityZero != gate.heldBy.contains("priority-0") { updateCampaign(now: now) }
        if let flag = settings.priorityFlag, let stored = raft.selfMember?.priority, flag != stored,
           priorityWarnedAt != raft.configurationIndex {
            priorityWarnedAt = raft.configurationIndex
            log("priority-differs", .warning,
                "--priority \(flag) differs from the priority the group stores for \(settings.name) (\(stored)); the stored one is used: to change it run 'baton members set \(settings.name) --priority \(flag)' on any member",
                [("flag", .number(Int(flag))), ("stored", .number(Int(stored)))], .always)
        }
        watchForPreemption(now: now)
    }

    private func watchForPreemption(now: Instant) {
        guard settings.preempt, raft.role == .leader, raft.office != nil, !raft.isTransferring, shutdown == nil,
              !pauseControl.coreHeld, let c = raft.configuration, let mine = c.member(me) else {
            preemptWatch = nil
            return
        }
        let fresh = now - settings.raft.electionTimeoutMin
        let node = raft
        let able = c.members.filter { m in
            guard m.id != me, m.mayLead, m.priority > mine.priority, let p = node.progress(of: m.id) else { return false }
            return p.canLead && p.matchIndex >= node.commitIndex && p.lastEcho >= fresh
        }
        // The highest priority; ties: the lower id (what campaign ranks use).
        guard let best = able.max(by: { ($0.priority, $1.id) < ($1.priority, $0.id) }) else {
            preemptWatch = nil
            return
        }
        guard let w = preemptWatch, w.target == best.id else {
            preemptWatch = PreemptWatch(target: best.id, since: now)
            return
        }
        guard now >= w.since + settings.preemptAfter else { return }
        preemptWatch = nil
        let reason = "preempt: \(best.name) has priority \(best.priority) > \(mine.priority)"
        log("preempt", .notice, "\(best.name) (priority \(best.priority)) has been caught up and healthy for \(settings.preemptAfter.formatted): handing over to it",
            [("to", .string(best.name)), ("priority", .number(Int(best.priority))), ("own_priority", .number(Int(mine.priority)))], .always)
        logHandOver(reason: reason, by: "", now: now)
        let officeTerm = raft.office?.term
        let ready = stepCore(.transferLeadership(to: best.id, reason: .transfer), now: now)
        #if BATON_FAULT_INJECTION
        if settings.raft.injectedBugs.contains(.preemptWithoutDemote), case .started(_)? = ready.transferOutcome, let officeTerm {
            // The injected bug: tell the core the demote is done before the hook ran.
            stepCore(.demoteFinished(term: officeTerm), now: now)
        }
        #else
        _ = officeTerm
        #endif
        if case .refused(let refusal)? = ready.transferOutcome {
            log("preempt-refused", .warning, "the hand-over to \(best.name) was refused: \(refusal.rawValue)",
                [("to", .string(best.name)), ("refusal", .string(refusal.rawValue))], .always)
            logHandOverRefused(refusal.rawValue, by: "", now: now)
        }
    }

    /// preemptDeadline: when the watch's stability period ends.
    var preemptDeadline: Instant { preemptWatch.map { $0.since + settings.preemptAfter } ?? .distantFuture }
}
