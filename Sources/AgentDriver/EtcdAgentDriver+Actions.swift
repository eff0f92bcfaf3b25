// The etcd engine's driver: planned hand-over (`POST /resign`, SIGTERM) and the view.
// A hand-over through etcd is the leader giving up its key: the next candidate in line
// (the oldest waiting key, as etcd's own election recipe orders them) learns of it from
// its watch and enters office in the same step. The leader leaves office first, runs its
// demote hook, and only then revokes its lease (design S4: the successor's promote
// follows the predecessor's demote).
import AgentLogging
import EtcdElection
import RaftCore

extension EtcdAgentDriver {
    // MARK: POST /resign

    func resign(_ request: RequestID, to: String?, client: String, now: Instant) {
        if let to {
            return ports.responder.answer(request, .refused(400, reason: "to: '\(to)': with --backend etcd the successor is the next candidate in line (the oldest key, by create revision); leave 'to' out", term: view.term))
        }
        refreshOffice()
        guard view.isInOffice(at: now), let office = election.office else {
            let leader = view.leader.flatMap { $0 == settings.name ? nil : $0 }
            return ports.responder.answer(request, .notInOffice(leader: leader, term: view.term))
        }
        guard election.candidates.contains(where: { $0.info?.name != settings.name }) else {
            return ports.responder.answer(request, .refused(409, reason: "no other candidate is in line: there is nobody to hand over to", term: view.term))
        }
        log("resign-requested", .notice, "hand-over requested by \(client) (to the next candidate in line)",
            [("to", .string("next in line")), ("client", .string(client))], .always, term: office.token)
        // The demote hook runs now; the lease is revoked once it finished.
        stepElection(.resign(.transfer), now: now)
        resigns.append(ResignWaiter(request: request, term: office.token, start: now, deadline: now + settings.resignWait))
    }

    /// answerResignWaiters completes held resignations whose successor leads now, or
    /// whose wait ran out.
    func answerResignWaiters(now: Instant) {
        resigns.answer(now: now, responder: ports.responder, log: ports.log) { w in
            if let leader = election.leader, leader.token > w.term {
                return leader.isSelf ? .electedAgain(term: w.term, me: settings.name)
                    : .handedOver(term: w.term, successor: leader.info?.name ?? Self.unnamedLeader, successorTerm: leader.token)
            }
            guard now >= w.deadline else { return nil }
            refreshOffice()
            return .noSuccessorHeard(term: w.term, resigned: !view.isInOffice(at: now), wait: settings.resignWait,
                                     then: "the next candidate in line takes over when this node's lease ends")
        }
    }

    // MARK: SIGTERM

    func terminate(now: Instant) {
        if shutdown != nil {
            // A second signal: now. Kill the running hook and exit; the lease runs out.
            log("stopping-now", .warning, "a second signal: killing the running hook and exiting now", [], .essential)
            ports.hooks.killRunning()
            finish(now: now)
            return
        }
        let office = election.office
        shutdown = ShutdownSequence(start: now, wasLeader: office != nil, termAtStart: office?.token ?? view.term,
                                    hookDeadline: now + settings.shutdownHookBound)
        view.phase = .stopping
        log("stopping", .notice, office != nil ? "stopping: handing over first" : "stopping", [], .essential)
        gate.stopping = true
        // Leaves office (the demote hook is queued), withdraws the candidacy, and revokes
        // the lease once the demote finished.
        stepElection(.shutdown, now: now)
        follow(.updateCampaign)
    }

    /// advanceShutdown moves a stopping agent on after every input: hooks idle (bounded),
    /// then the lease given up (bounded), then exit.
    func advanceShutdown(now: Instant) {
        guard shutdown != nil, view.phase == .stopping else { return }
        guard shutdown!.settleHooks(idle: hookSequence.isIdle, now: now, successorBound: settings.releaseBound,
                                    flushBound: .zero, log: { ports.log.event($0) }) else { return }
        let s = shutdown!
        guard released || now >= s.successorDeadline else { return }
        if !s.reported {
            shutdown!.reported = true
            let fields: LogFields = [("after_ms", .number((now - s.start).nanoseconds / 1_000_000))]
            if s.wasLeader && released {
                log("handed-over", .notice, "gave up the key of token \(s.termAtStart): the next candidate in line takes over", fields, .essential)
            } else if s.wasLeader {
                log("hand-over-unconfirmed", .warning, "could not give up the lease in time: the next candidate takes over when it expires", fields, .essential)
            }
        }
        finish(now: now)
    }

    func finish(now: Instant) {
        view.phase = .finished
        view.generation &+= 1
        log("stopped", .notice, "stopped", [], .essential)
        ports.lifecycle.exit(code: 0)
    }

    // MARK: The view

    /// refreshOffice brings the office part of the view up to date at once (a leave
    /// must be visible before anything else of the step happens).
    func refreshOffice() {
        let office = election.office.map { AgentView.OfficeView(term: $0.token, since: $0.since, leaseDeadline: $0.leaseDeadline) }
        if office?.term != view.office?.term || office?.since != view.office?.since {
            view.generation &+= 1
        } else if let o = office, o.leaseDeadline != view.office?.leaseDeadline {
            // Every move of the deadline is logged (debug) before any answer can carry
            // it, so an outside checker knows the lease a killed holder last announced.
            log("lease-renewed", .debug, "lease renewed: office of token \(o.term) now ends at \(o.leaseDeadline.nanoseconds) ns",
                [("token", .number(o.term)), ("lease_deadline_boottime_ns", .number(o.leaseDeadline.nanoseconds))], .always, term: o.term)
        }
        // Renewals move the deadline; answers compare it with the clock.
        view.office = office
    }

    /// refreshView sets every field that changed. The term is the newest token known:
    /// tokens only grow from one leader to the next (a new key is created above every
    /// key in line, and the lowest key leads).
    func refreshView(now: Instant) {
        refreshOffice()
        var changed = false
        let role: Role = election.office != nil ? .leader : .follower
        if view.role != role { view.role = role; changed = true }
        let leader = election.leader
        let name = leader.map { $0.info?.name ?? Self.unnamedLeader }
        if view.leader != name { view.leader = name; changed = true }
        leaderInfo = leader?.info
        let term = max(view.term, leader?.token ?? 0, election.office?.token ?? 0)
        if view.term != term { view.term = term; changed = true }
        if refreshPartsView() { changed = true }
        if view.counters != counters { view.counters = counters; changed = true }
        // etcd's last answer moves with every renewal; answers compare it with the clock.
        if let t = election.lastReplyAt { view.lastContact = t }
        if changed { view.generation &+= 1 }
    }
}
