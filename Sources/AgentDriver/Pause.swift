// The maintenance pause of issue 16 (`baton pause`, `baton resume`): a replicated
// decision that no member campaigns and no check failure or failed promote makes the
// leader hand over, until resumed or until the pause's time runs out (a pause always
// ends). Planned hand-overs (resign, SIGTERM) still work: the core obeys a TimeoutNow
// while paused (`Event.setElectionsPaused`).
//
// A pause holds campaigns on a member from the moment its entry is in the member's log,
// committed or not: holding back is always safe, and a member that has the entry but
// has not yet heard that it committed (the leader died right after) must not take
// office. A member without the entry cannot win once it is committed (a majority has
// it and refuses to vote for a shorter log). Likewise a resume frees campaigns as soon
// as it is in the log: the pause is a policy, not a safety property, and a group whose
// leader acknowledged a resume and died must not stay paused.
import AgentLogging
public import RaftCore

/// PauseControl is the driver's part of the pause besides the replicated record.
struct PauseControl {
    /// The pause whose local end was worked out, by its index, and that end.
    var forIndex: LogIndex = 0
    var endsAt: Instant = .distantPast
    /// What the core was last told.
    var coreHeld = false
    /// expiryProposedFor: the pause this leader already proposed to end (time ran out).
    var expiryProposedFor: LogIndex = 0
    /// selfResume: `POST /resume` arrived on a member of a paused group without a leader:
    /// it campaigns, and its first act in office is to log the resume.
    var selfResume: SelfResume? = nil
    /// waiters: pause and resume requests held until their entry commits.
    var waiters: [ControlWaiter] = []

    struct SelfResume {
        var request: RequestID
        var client: String
        var deadline: Instant
    }
}

/// ControlWaiter is a held pause or resume request.
struct ControlWaiter {
    var request: RequestID
    var index: LogIndex
    var term: Term
    var paused: Bool
    var deadline: Instant
}

/// PauseView is the pause as `/status`, `/health`, metrics and sd_notify show it.
public struct PauseView: Hashable, Sendable {
    /// index: the log entry that paused the group.
    public var index: LogIndex
    public var by: String
    public var reason: String
    public var requestedWallMs: Int64
    public var untilWallMs: Int64
    /// endsAt: this node's CLOCK_BOOTTIME at which the pause ends by itself.
    public var endsAt: Instant
    /// committed: false while the entry is only in this node's log (campaigns are held
    /// already; the pause is not yet the group's decision).
    public var committed: Bool
}

extension AgentDriver {
    /// wallMs is the wall clock in Unix milliseconds, 0 when the shell gave none.
    var wallMs: Int64 { wallClockMs?() ?? 0 }

    // MARK: Requests

    /// pauseRequested handles `POST /pause` on this node: only the leader logs it.
    func pauseRequested(_ request: RequestID, duration: Interval?, reason: String, client: String, now: Instant) {
        let d = duration ?? settings.pauseDefault
        guard d > .zero, d <= settings.pauseMax else {
            return controlAnswer(request, 400, [.init("reason", .string(
                "the pause must last more than 0 and at most \(settings.pauseMax.formatted) (--pause-max); got \(d.formatted)"))])
        }
        guard reason.utf8.count <= ControlRecord.textBytesMax else {
            return controlAnswer(request, 400, [.init("reason", .string("the reason is over \(ControlRecord.textBytesMax) bytes"))])
        }
        guard leaderForControl(request, now: now) != nil else { return }
        let wall = wallMs
        let record = PauseRecord(duration: d, untilWallMs: wall == 0 ? 0 : wall + d.nanoseconds / 1_000_000,
                                 requestedWallMs: wall, by: client, reason: reason)
        log("pause-requested", .notice, "pause for \(d.formatted) requested by \(client)\(reason.isEmpty ? "" : ": \(reason)")",
            [("client", .string(client)), ("duration_ms", .number(d.nanoseconds / 1_000_000)), ("reason", .string(reason))], .always)
        proposeControl(request, .pause(record), paused: true, now: now)
    }

    /// resumeRequested handles `POST /resume`: the leader logs it; a member of a paused
    /// group that knows no leader campaigns and logs it once in office.
    func resumeRequested(_ request: RequestID, client: String, now: Instant) {
        if raft.role != .leader && !leaderHeard(now) && pauseHeldByLog && raft.selfMember?.mayLead == true
            && !settings.witness && shutdown == nil && pauseControl.selfResume == nil {
            log("resume-requested", .notice, "resume requested by \(client) while no leader is known: campaigning to log it",
                [("client", .string(client))], .always)
            pauseControl.selfResume = PauseControl.SelfResume(request: request, client: client,
                                                              deadline: now + settings.membershipChangeWait)
            updatePause(now: now)
            return
        }
        guard leaderForControl(request, now: now) != nil else { return }
        guard view.pause != nil else {
            return controlAnswer(request, 200, [.init("paused", .bool(false)), .init("changed", .bool(false)),
                                                .init("reason", .string("the group is not paused"))])
        }
        log("resume-requested", .notice, "resume requested by \(client)", [("client", .string(client))], .always)
        proposeControl(request, .resume(ResumeRecord(wallMs: wallMs, by: client, reason: "resumed")), paused: false, now: now)
    }

    /// leaderForControl answers 409 (naming the leader) unless this node leads.
    func leaderForControl(_ request: RequestID, now: Instant) -> Term? {
        guard raft.role == .leader, !raft.isTransferring else {
            let leader = leaderHeard(now) ? raft.leader.flatMap { $0 == me ? nil : name($0) } : nil
            controlAnswer(request, 409, [
                .init("reason", .string(leader == nil ? "no leader is known to this node; retry in a moment" : "only the leader logs a pause, resume or scheduled hand-over; ask it")),
                .init("leader", leader.map { .member($0) } ?? .null)])
            return nil
        }
        guard shutdown == nil else {
            controlAnswer(request, 503, [.init("reason", .string("this node is stopping"))])
            return nil
        }
        return raft.term
    }

    private func proposeControl(_ request: RequestID, _ record: ControlRecord, paused: Bool, now: Instant) {
        guard pauseControl.waiters.count < DriverSettings.queuedMembershipRequests else {
            return controlAnswer(request, 503, [.init("reason", .string("\(pauseControl.waiters.count) pause/resume requests are waiting; retry in a moment"))])
        }
        let before = raft.lastLogIndex
        stepCore(.propose(record.encoded()), now: now)
        guard raft.lastLogIndex == before + 1 else {
            return controlAnswer(request, 503, [.init("reason", .string("the leader could not append the entry now (handing over, or the log is full); retry"))])
        }
        pauseControl.waiters.append(ControlWaiter(request: request, index: raft.lastLogIndex, term: raft.term, paused: paused,
                                                  deadline: now + settings.membershipChangeWait))
    }

    func controlAnswer(_ request: RequestID, _ status: Int, _ fields: [ApiAnswer.Field]) {
        ports.responder.answer(request, ApiAnswer(status: status, fields + [.init("term", .int(Int64(raft.term)))]))
    }

    /// leaderHeard: a leader was heard within the stickiness window. A paused follower
    /// keeps naming a leader that died (it starts no election that would clear it).
    func leaderHeard(_ now: Instant) -> Bool {
        raft.leader != nil && raft.leader != me && now < raft.lastContact + settings.raft.electionTimeoutMin
    }

    // MARK: Following the log

    /// tailPause: what the newest pause or resume record of this node's log past the
    /// applied state says (nil: there is none; the applied state decides). A pause
    /// there holds campaigns at once (holding back is always safe); a resume there frees
    /// them at once (a resume is liveness only: if the leader acknowledged it and died
    /// before the followers heard it committed, they must not stay paused).
    var tailPause: (index: LogIndex, record: PauseRecord?)? {
        guard raft.lastLogIndex > replicated.appliedIndex else { return nil }
        for e in raft.log.reversed() {
            guard e.index > replicated.appliedIndex else { break }
            guard case .data(let bytes) = e.payload, let r = ControlRecord.decode(bytes) else { continue }
            switch r {
            case .pause(let p): return (e.index, p)
            case .resume: return (e.index, nil)
            case .office, .hook, .handoverScheduled, .handoverEnded: continue
            }
        }
        return nil
    }

    /// pauseHeldByLog: the log (committed, or this node's tail) says paused, and the
    /// pause's time has not run out.
    var pauseHeldByLog: Bool { view.pause != nil }

    /// updatePause follows the pause after every input: works out its local end, tells
    /// the core, ends it when its time ran out (the leader logs that), answers waiters.
    func updatePause(now: Instant) {
        var current: PauseView? = nil
        if let t = tailPause {
            if let p = t.record { current = pauseView(index: t.index, p, committed: t.index <= raft.commitIndex, now: now) }
        } else if let p = replicated.pause {
            current = pauseView(index: p.index, p.record, committed: true, now: now)
        }
        if let c = current, now >= c.endsAt {
            // Its time ran out: the group is no longer paused; the leader logs the end
            // so every member, and the history, agree on it.
            if c.committed && raft.role == .leader && !raft.isTransferring && pauseControl.expiryProposedFor != c.index && shutdown == nil {
                pauseControl.expiryProposedFor = c.index
                log("pause-ended", .notice, "the pause (entry \(c.index)) ran its time out: logging the resume",
                    [("index", .number(c.index))], .always)
                stepCore(.propose(ControlRecord.resume(ResumeRecord(wallMs: wallMs, by: "baton", reason: "the pause's time ran out")).encoded()), now: now)
            }
            current = nil
        }
        if view.pause != current {
            if (view.pause == nil) != (current == nil) {
                log(current == nil ? "pause-off" : "pause-on", .notice,
                    current == nil ? "the group is no longer paused" : "the group is paused until \(current!.untilWallMs) (Unix ms): no campaigns, no hand-over on a failing check",
                    [], .always)
            }
            view.pause = current
            view.generation &+= 1
        }
        // A self-resume: once in office, log the resume first; give up at the deadline.
        if let s = pauseControl.selfResume {
            if current == nil {
                pauseControl.selfResume = nil
                controlAnswer(s.request, 200, [.init("paused", .bool(false)), .init("changed", .bool(true))])
            } else if raft.role == .leader && raft.office != nil && !raft.isTransferring {
                pauseControl.selfResume = nil
                log("resume-logged", .notice, "in office after a resume requested by \(s.client): logging it", [], .always)
                proposeControl(s.request, .resume(ResumeRecord(wallMs: wallMs, by: s.client, reason: "resumed while no leader was known")),
                               paused: false, now: now)
            } else if now >= s.deadline {
                pauseControl.selfResume = nil
                controlAnswer(s.request, 503, [.init("reason", .string("this node did not take office within \(settings.membershipChangeWait.formatted) to log the resume; try another member")),
                                               .init("paused", .bool(true))])
            }
        }
        let hold = current != nil && pauseControl.selfResume == nil
        if hold != pauseControl.coreHeld {
            pauseControl.coreHeld = hold
            stepCore(.setElectionsPaused(hold), now: now)
            // Resumed while the check fails in office: the hand-over the pause held back.
            if !hold, raft.office != nil, checkTracker?.healthy == false { follow(.handOver(.checkFailed)) }
        }
        answerControlWaiters(now: now)
    }

    private func pauseView(index: LogIndex, _ p: PauseRecord, committed: Bool, now: Instant) -> PauseView {
        if pauseControl.forIndex != index {
            // The local end: the duration from now, cut to what the proposer's wall
            // clock left of it (a restart re-reading the log does not extend a pause).
            var left = p.duration
            let wall = wallMs
            if wall != 0 && p.untilWallMs != 0 {
                left = min(left, .milliseconds(max(0, p.untilWallMs - wall)))
            }
            pauseControl.forIndex = index
            pauseControl.endsAt = now + left
        }
        return PauseView(index: index, by: p.by, reason: p.reason, requestedWallMs: p.requestedWallMs,
                         untilWallMs: p.untilWallMs, endsAt: pauseControl.endsAt, committed: committed)
    }

    private func answerControlWaiters(now: Instant) {
        var i = 0
        while i < pauseControl.waiters.count {
            let w = pauseControl.waiters[i]
            guard let (status, outcome) = heldEntryOutcome(index: w.index, term: w.term, deadline: w.deadline, now: now) else { i += 1; continue }
            var fields = outcome
            if status == 200 {
                fields = [.init("paused", .bool(w.paused)), .init("changed", .bool(true)), .init("index", .int(Int64(w.index)))]
                if w.paused, let p = view.pause, p.index == w.index {
                    fields += [.init("until_unix_ms", .int(p.untilWallMs)),
                               .init("remaining_ms", .int(max(0, (p.endsAt - now).nanoseconds / 1_000_000)))]
                }
            }
            pauseControl.waiters.remove(at: i)
            controlAnswer(w.request, status, fields)
        }
    }

    /// heldEntryOutcome: where a held control request whose entry is `index` of `term`
    /// stands — nil while it waits; 200 once committed (the caller fills the fields);
    /// 503 with the reason when the leadership moved or the wait ran out.
    func heldEntryOutcome(index: LogIndex, term: Term, deadline: Instant, now: Instant) -> (Int, [ApiAnswer.Field])? {
        if raft.commitIndex >= index && raft.term == term { return (200, []) }
        if raft.term != term || raft.role != .leader {
            return (503, [.init("changed", .null), .init("reason", .string("the leadership moved before the entry committed; see 'baton status' for whether it took effect"))])
        }
        if now >= deadline {
            return (503, [.init("changed", .null), .init("reason", .string("the entry did not commit within \(settings.membershipChangeWait.formatted): a majority of the voters is not reachable"))])
        }
        return nil
    }

    /// pauseDeadline: when the driver must look at the pause again.
    var pauseDeadline: Instant {
        var d = Instant.distantFuture
        if let p = view.pause { d = min(d, p.endsAt) }
        if let s = pauseControl.selfResume { d = min(d, s.deadline) }
        for w in pauseControl.waiters { d = min(d, w.deadline) }
        return d
    }
}
