// The scheduled hand-over of issue 16 (`baton resign --to NAME --at TIME | --in D`,
// `baton resign --cancel`; POST and DELETE /handover): a log entry, so every member
// agrees on it, /status shows it everywhere, and a new leader (or a restarted one)
// carries it out. At the moment, the leader in office hands over to the target by the
// existing transfer (demote before promote) only if the target can lead then; otherwise
// it drops the schedule. Either way it logs how the schedule ended, so /history says
// what happened and why.
//
// The moment: the record holds the delay and the proposing leader's wall-clock moment;
// a member works out its own moment when it first sees the record (its CLOCK_BOOTTIME
// plus the delay, cut to what its wall clock says is left), like a pause's end, so a
// restart or a leader change neither moves nor extends it.
//
// Decisions at the moment (README "Operator controls"):
// - the group is paused: dropped (a pause says "nothing moves"; an operator who wants
//   the hand-over during the pause runs `baton resign --to` by hand);
// - the target is not a member, not a voter, has priority 0, or already leads: dropped;
// - the target is down or unreachable, not caught up, or holding back (start-up hook,
//   failing check): the leader waits up to one election timeout (Emax) from when it
//   first looked for that to clear, then drops it with the reason;
// - no leader was in office at the moment and one took office more than `lateMax`
//   later: dropped as missed (a hand-over hours late is not what was asked for).
import AgentLogging
public import RaftCore

/// ScheduledHandoverLimits are the explicit bounds of a scheduled hand-over.
public enum ScheduledHandoverLimits {
    /// aheadMax: the farthest ahead a hand-over may be scheduled.
    public static let aheadMax = Interval.seconds(86_400)
    /// lateMax: a leader that takes office more than this after the moment drops it.
    public static let lateMax = Interval.seconds(10)
}

/// HandoverControl is the driver's part of the scheduled hand-over besides the record.
struct HandoverControl {
    /// The schedule whose local moment was worked out, by its index, and that moment.
    var forIndex: LogIndex = 0
    var dueAt: Instant = .distantPast
    /// The schedule whose end this leader logged, and in which term.
    var endProposedFor: LogIndex = 0
    var endProposedTerm: Term = 0
    /// The schedule and term this leader first looked at after the moment, and when:
    /// a passing reason is waited out from then (a leader new in office has not heard
    /// its followers' answers yet).
    var lookedFor: LogIndex = 0
    var lookedTerm: Term = 0
    var lookedSince: Instant = .distantPast
    /// nextLook: when the leader must look at the schedule again.
    var nextLook: Instant = .distantFuture
    /// waiters: schedule and cancel requests held until their entry commits.
    var waiters: [HandoverWaiter] = []
}

/// HandoverWaiter is a held schedule or cancel request.
struct HandoverWaiter {
    var request: RequestID
    var index: LogIndex
    var term: Term
    /// schedule: what a schedule request logged, and its moment by this node's clock.
    var schedule: (record: ScheduledHandoverRecord, dueAt: Instant)?
    var deadline: Instant
}

/// ScheduledHandoverView is the scheduled hand-over as `/status` shows it.
public struct ScheduledHandoverView: Hashable, Sendable {
    /// index: the log entry that scheduled it.
    public var index: LogIndex
    public var target: String
    public var by: String
    public var requestedWallMs: Int64
    /// atWallMs: the moment by the proposing leader's wall clock (0: unknown).
    public var atWallMs: Int64
    /// dueAt: this node's CLOCK_BOOTTIME at the moment.
    public var dueAt: Instant
}

extension AgentDriver {
    // MARK: Requests

    /// scheduleHandoverRequested handles `POST /handover`: checked here (the answer says
    /// what is wrong), logged by the leader, answered once committed.
    func scheduleHandoverRequested(_ request: RequestID, to: String, at moment: HandoverMoment, client: String, now: Instant) {
        func refuse(_ status: Int, _ reason: String) { controlAnswer(request, status, [.init("reason", .string(reason))]) }
        let wall = wallMs
        let delay: Interval
        switch moment {
        case .after(let d): delay = d
        case .at(let at):
            guard wall != 0 else { return refuse(400, "this node reads no wall clock: give a delay ('in') instead of a time") }
            delay = .milliseconds(at - wall)
        }
        let limit = ScheduledHandoverLimits.aheadMax
        guard delay > .zero else {
            return refuse(400, "the moment is not in the future (\((Interval.zero - delay).formatted) ago by the clock of \(settings.name))")
        }
        guard delay <= limit else {
            return refuse(400, "the moment is \(delay.formatted) ahead; a hand-over is scheduled at most \(limit.formatted) ahead")
        }
        let members = raft.configuration?.members ?? []
        guard let target = members.first(where: { $0.name == to }) else {
            return refuse(400, "to: '\(to)' is not a member (\(members.map(\.name).sorted().joined(separator: ", ")))")
        }
        if let why = neverLeads(target) { return refuse(400, "to: \(why)") }
        guard leaderForControl(request, now: now) != nil else { return }
        guard target.id != me else { return refuse(400, "to: '\(to)' leads now: name another member") }
        if let s = scheduledInLog {
            return controlAnswer(request, 409, [
                .init("reason", .string("a hand-over to \(s.record.target) is already scheduled (entry \(s.index)); cancel it first with 'baton resign --cancel'")),
                .init("scheduled_to", .string(s.record.target))])
        }
        let record = ScheduledHandoverRecord(target: to, delay: delay, atWallMs: wall == 0 ? 0 : wall + delay.nanoseconds / 1_000_000,
                                             requestedWallMs: wall, by: client)
        log("handover-scheduled", .notice, "hand-over to \(to) scheduled in \(delay.formatted) by \(client)",
            [("to", .string(to)), ("delay_ms", .number(delay.nanoseconds / 1_000_000)), ("client", .string(client))], .always)
        proposeHandoverRecord(request, .handoverScheduled(record), schedule: (record, now + delay), now: now)
    }

    /// cancelHandoverRequested handles `DELETE /handover`, on the leader.
    func cancelHandoverRequested(_ request: RequestID, client: String, now: Instant) {
        guard leaderForControl(request, now: now) != nil else { return }
        guard let s = scheduledInLog else {
            return controlAnswer(request, 409, [.init("reason", .string("no hand-over is scheduled")), .init("scheduled_to", .null)])
        }
        guard !endInLog(for: s.index) && !(handoverControl.endProposedFor == s.index && handoverControl.endProposedTerm == raft.term) else {
            return controlAnswer(request, 409, [.init("reason", .string("the hand-over to \(s.record.target) is being carried out or dropped now")),
                                                .init("scheduled_to", .string(s.record.target))])
        }
        log("handover-cancel-requested", .notice, "scheduled hand-over to \(s.record.target) cancelled by \(client)",
            [("to", .string(s.record.target)), ("client", .string(client))], .always)
        proposeHandoverRecord(request, .handoverEnded(HandoverEndRecord(
            scheduleIndex: s.index, outcome: .cancelled, target: s.record.target, reason: "cancelled", by: client, wallMs: wallMs)),
            schedule: nil, now: now)
    }

    /// neverLeads says why a member can never take office, nil when it may.
    private func neverLeads(_ m: Member) -> String? {
        if m.role != .voter { return "'\(m.name)' is a \(m.role): only a voter takes office" }
        if m.priority == 0 { return "'\(m.name)' has priority 0: it never takes office" }
        return nil
    }

    private func proposeHandoverRecord(_ request: RequestID, _ record: ControlRecord,
                                       schedule: (record: ScheduledHandoverRecord, dueAt: Instant)?, now: Instant) {
        guard handoverControl.waiters.count < DriverSettings.queuedMembershipRequests else {
            return controlAnswer(request, 503, [.init("reason", .string("\(handoverControl.waiters.count) hand-over requests are waiting; retry in a moment"))])
        }
        let before = raft.lastLogIndex
        stepCore(.propose(record.encoded()), now: now)
        guard raft.lastLogIndex == before + 1 else {
            return controlAnswer(request, 503, [.init("reason", .string("the leader could not append the entry now (handing over, or the log is full); retry"))])
        }
        handoverControl.waiters.append(HandoverWaiter(request: request, index: raft.lastLogIndex, term: raft.term, schedule: schedule,
                                                      deadline: now + settings.membershipChangeWait))
    }

    /// scheduledInLog: the schedule in force counting this node's uncommitted tail (a
    /// schedule or end appended there but not yet committed decides).
    var scheduledInLog: AppliedHandover? {
        var ended: Set<LogIndex> = []
        for e in raft.log.reversed() {
            guard e.index > replicated.appliedIndex else { break }
            guard case .data(let bytes) = e.payload, let r = ControlRecord.decode(bytes) else { continue }
            if case .handoverEnded(let end) = r { ended.insert(end.scheduleIndex) }
            if case .handoverScheduled(let s) = r {
                return ended.contains(e.index) ? nil : AppliedHandover(index: e.index, term: e.term, record: s)
            }
        }
        guard let h = replicated.handover, !ended.contains(h.index) else { return nil }
        return h
    }

    /// endInLog: this node's uncommitted tail already ends the schedule at `index`.
    private func endInLog(for index: LogIndex) -> Bool {
        for e in raft.log.reversed() {
            guard e.index > replicated.appliedIndex else { break }
            if case .data(let bytes) = e.payload, case .handoverEnded(let end)? = ControlRecord.decode(bytes), end.scheduleIndex == index {
                return true
            }
        }
        return false
    }

    // MARK: Following the log

    /// updateScheduledHandover runs after every input: works out the local moment, shows
    /// the schedule, carries it out (or drops it) on the leader, answers waiters.
    func updateScheduledHandover(now: Instant) {
        handoverControl.nextLook = .distantFuture
        var current: ScheduledHandoverView? = nil
        if let s = replicated.handover {
            if handoverControl.forIndex != s.index {
                var left = s.record.delay
                let wall = wallMs
                if wall != 0 && s.record.atWallMs != 0 {
                    // A moment already past (a restart, a late leader) stays past, by how
                    // much, so a missed one is recognised; bounded below.
                    let byWall = Interval.milliseconds(s.record.atWallMs - wall)
                    left = max(min(left, byWall), Interval.zero - ScheduledHandoverLimits.lateMax - .seconds(1))
                }
                handoverControl.forIndex = s.index
                handoverControl.dueAt = now + left
            }
            current = ScheduledHandoverView(index: s.index, target: s.record.target, by: s.record.by,
                                            requestedWallMs: s.record.requestedWallMs, atWallMs: s.record.atWallMs,
                                            dueAt: handoverControl.dueAt)
            carryOutIfDue(s, now: now)
        }
        if view.scheduledHandover != current {
            view.scheduledHandover = current
            view.generation &+= 1
        }
        answerHandoverWaiters(now: now)
    }

    private enum Verdict {
        case wait(String)
        case drop(String)
        case carryOut(Member)
    }

    private func carryOutIfDue(_ s: AppliedHandover, now: Instant) {
        guard raft.role == .leader, raft.office != nil, !raft.isTransferring, shutdown == nil else { return }
        guard !(handoverControl.endProposedFor == s.index && handoverControl.endProposedTerm == raft.term), !endInLog(for: s.index) else { return }
        let due = handoverControl.dueAt
        guard now >= due else {
            handoverControl.nextLook = due
            return
        }
        if handoverControl.lookedFor != s.index || handoverControl.lookedTerm != raft.term {
            handoverControl.lookedFor = s.index
            handoverControl.lookedTerm = raft.term
            handoverControl.lookedSince = now
        }
        let target = s.record.target
        let verdict = handoverVerdict(s, now: now)
        if case .wait = verdict {
            handoverControl.nextLook = handoverControl.lookedSince + settings.raft.electionTimeoutMax
            return
        }
        let end: HandoverEndRecord
        switch verdict {
        case .wait: return
        case .drop(let why):
            end = HandoverEndRecord(scheduleIndex: s.index, outcome: .dropped, target: target, reason: why, by: "", wallMs: wallMs)
        case .carryOut:
            end = HandoverEndRecord(scheduleIndex: s.index, outcome: .carriedOut, target: target,
                                    reason: "\(target) can lead: handing over", by: "", wallMs: wallMs)
        }
        let before = raft.lastLogIndex
        stepCore(.propose(ControlRecord.handoverEnded(end).encoded()), now: now)
        guard raft.lastLogIndex == before + 1 else { return }  // handing over or the log is full: the next input retries
        handoverControl.endProposedFor = s.index
        handoverControl.endProposedTerm = raft.term
        guard case .carryOut(let m) = verdict else {
            log("handover-dropped", .warning, "the hand-over to \(target) scheduled at entry \(s.index) is dropped: \(end.reason)",
                [("to", .string(target)), ("reason", .string(end.reason))], .always)
            return
        }
        log("handover-due", .notice, "the hand-over to \(target) scheduled at entry \(s.index) is due: handing over",
            [("to", .string(target)), ("late_ms", .number((now - due).nanoseconds / 1_000_000))], .always)
        // The record of the hand-over goes in before the transfer (the core appends
        // nothing once it runs); the demote hook runs, then TimeoutNow.
        logHandOver(reason: "scheduled hand-over to \(target) (entry \(s.index))", by: s.record.by, now: now)
        let ready = stepCore(.transferLeadership(to: m.id, reason: .transfer), now: now)
        if case .refused(let refusal)? = ready.transferOutcome {
            log("handover-refused", .warning, "the scheduled hand-over to \(target) was refused: \(refusal.rawValue)",
                [("to", .string(target)), ("refusal", .string(refusal.rawValue))], .always)
            logHandOverRefused(refusal.rawValue, by: s.record.by, now: now)
        }
    }

    /// handoverVerdict: may the target take over now? A lasting reason drops the
    /// schedule at once; a passing one (down, behind, holding back) is waited out for up
    /// to one election timeout from when this leader first looked after the moment.
    private func handoverVerdict(_ s: AppliedHandover, now: Instant) -> Verdict {
        let name = s.record.target
        let late = now - handoverControl.dueAt
        if late > ScheduledHandoverLimits.lateMax {
            return .drop("missed: no leader could carry it out at the moment (this leader took office \(late.formatted) after it; the limit is \(ScheduledHandoverLimits.lateMax.formatted))")
        }
        if view.pause != nil { return .drop("the group is paused") }
        guard let c = raft.configuration, let m = c.members.first(where: { $0.name == name }) else {
            return .drop("\(name) is not a member")
        }
        if m.id == me { return .drop("\(name) already leads") }
        if let why = neverLeads(m) { return .drop(why) }
        let why: String
        if let p = raft.progress(of: m.id) {
            if p.lastEcho < now - settings.raft.electionTimeoutMin {
                why = "\(name) has not answered within the election timeout (down or unreachable)"
            } else if !p.canLead {
                why = "\(name) holds back (its start-up hook runs or its check fails)"
            } else if p.matchIndex < raft.commitIndex {
                why = "\(name) is not caught up (it has entry \(p.matchIndex) of \(raft.commitIndex))"
            } else {
                return .carryOut(m)
            }
        } else {
            why = "\(name) is not known to the leader's replication yet"
        }
        return now - handoverControl.lookedSince >= settings.raft.electionTimeoutMax ? .drop(why) : .wait(why)
    }

    private func answerHandoverWaiters(now: Instant) {
        var i = 0
        while i < handoverControl.waiters.count {
            let w = handoverControl.waiters[i]
            guard let (status, outcome) = heldEntryOutcome(index: w.index, term: w.term, deadline: w.deadline, now: now) else { i += 1; continue }
            var fields = outcome
            if status == 200 {
                fields = [.init("scheduled", .bool(w.schedule != nil)), .init("changed", .bool(true)), .init("index", .int(Int64(w.index)))]
                if let s = w.schedule {
                    fields += [.init("to", .string(s.record.target)), .init("at_unix_ms", .int(s.record.atWallMs)),
                               .init("remaining_ms", .int(max(0, (s.dueAt - now).nanoseconds / 1_000_000)))]
                }
            }
            handoverControl.waiters.remove(at: i)
            controlAnswer(w.request, status, fields)
        }
    }

    /// handoverDeadline: when the driver must look at the schedule again.
    var handoverDeadline: Instant {
        var d = handoverControl.nextLook
        for w in handoverControl.waiters { d = min(d, w.deadline) }
        return d
    }
}
