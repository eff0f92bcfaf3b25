// POST /resign[?to=NAME]: a planned hand-over through leadership transfer (design L2),
// answered once the successor is known (a leader of a higher term is heard), when the
// core refuses (and why), or when the wait runs out.
import AgentLogging
import RaftCore

/// ResignWaiter is a held resignation waiting for its successor.
struct ResignWaiter {
    var request: RequestID
    /// term is the term of the office this node left.
    var term: Term
    var start: Instant
    var deadline: Instant
}

extension AgentDriver {
    func resign(_ request: RequestID, to: String?, client: String, now: Instant) {
        var target: NodeID? = nil
        if let to {
            let names = (raft.configuration?.members ?? []).map(\.name)
            guard names.contains(to), let id = members.idOf[to] else {
                return answer(request, 400, reason: "to: '\(to)' is not a member (\(names.sorted().joined(separator: ", ")))")
            }
            guard id != me else { return answer(request, 400, reason: "to: '\(to)' is this node; name another member or leave 'to' out") }
            target = id
        }
        refreshOffice()
        guard view.isInOffice(at: now) else {
            let leader = raft.leader.flatMap { $0 == me ? nil : name($0) }
            return ports.responder.answer(request, .notInOffice(leader: leader, term: raft.term))
        }
        guard (raft.configuration?.voters.count ?? 1) > 1 else {
            return answer(request, 409, reason: "this is the only member: there is nobody to hand over to")
        }
        let officeTerm = raft.office?.term ?? raft.term
        let targetName = target.flatMap { name($0) }
        let toName = targetName ?? "most up-to-date member"
        log("resign-requested", .notice, "hand-over requested by \(client) (to \(toName))",
            [("to", .string(toName)), ("client", .string(client))], .always, term: officeTerm)
        // The demote hook runs now; TimeoutNow follows its end (the core waits for it).
        logHandOver(reason: "resign" + (targetName.map { " to \($0)" } ?? ""), by: client, now: now)
        let ready = stepCore(.transferLeadership(to: target, reason: .transfer), now: now)
        if case .refused(let refusal)? = ready.transferOutcome {
            logHandOverRefused(refusal.rawValue, by: client, now: now)
            let text: String
            switch refusal {
            case .noSuccessorReady, .targetNotEligible:
                let who = targetName.map { "'\($0)' cannot" } ?? "no other member can"
                text = "\(who) take over now: a witness never leads, and a member whose start-up hook is running or whose check fails holds back (see can_lead in GET /status); this node stays leader"
            case .inProgress:
                text = "a hand-over is already under way"
            case .notLeader:
                text = "this node is not in office; ask the leader"
            }
            log("resign-refused", .warning, "hand-over refused: \(refusal.rawValue)",
                [("to", .string(targetName ?? "any")), ("client", .string(client)), ("refusal", .string(refusal.rawValue))],
                .always, term: officeTerm)
            return ports.responder.answer(request, ApiAnswer(status: 409, [
                .init("reason", .string(text)), .init("refusal", .string(refusal.rawValue)), .init("term", .int(Int64(raft.term)))]))
        }
        resigns.append(ResignWaiter(request: request, term: officeTerm, start: now, deadline: now + settings.resignWait))
    }

    private func answer(_ request: RequestID, _ status: Int, reason: String) {
        ports.responder.answer(request, .refused(status, reason: reason, term: raft.term))
    }

    /// answerResignWaiters completes held resignations whose successor is now known, or
    /// whose wait ran out.
    func answerResignWaiters(now: Instant) {
        guard !resigns.isEmpty else { return }
        resigns.answer(now: now, responder: ports.responder, log: ports.log) { w in
            if raft.term > w.term, let successor = raft.leader {
                return successor == me ? .electedAgain(term: w.term, me: settings.name)
                    : .handedOver(term: w.term, successor: name(successor) ?? "", successorTerm: raft.term)
            }
            guard now >= w.deadline else { return nil }
            refreshOffice()
            return .noSuccessorHeard(term: w.term, resigned: !view.isInOffice(at: now), wait: settings.resignWait,
                                     then: "an ordinary election follows")
        }
    }
}

extension [ResignWaiter] {
    /// answer removes each waiter `decide` has an answer for (its successor is known,
    /// or its wait ran out), logs it and sends the answer.
    mutating func answer(now: Instant, responder: any ResponderPort, log: any LogPort, _ decide: (ResignWaiter) -> ApiAnswer?) {
        var i = 0
        while i < count {
            guard let result = decide(self[i]) else { i += 1; continue }
            let w = remove(at: i)
            log.event(w.answered(result, now: now))
            responder.answer(w.request, result)
        }
    }
}

extension ResignWaiter {
    /// answered is the log line of a held resignation answered at `now`.
    func answered(_ result: ApiAnswer, now: Instant) -> LogEvent {
        let ms = (now - start).nanoseconds / 1_000_000
        return LogEvent("resign-answered", .info, "answered the hand-over request: \(result.status) after \(ms) ms",
                        [("status", .number(result.status)), ("after_ms", .number(ms))], .always)
    }
}

/// The answers of `POST /resign`, one shape for every engine.
extension ApiAnswer {
    static func refused(_ status: Int, reason: String, term: UInt64) -> ApiAnswer {
        ApiAnswer(status: status, [.init("reason", .string(reason)), .init("term", .int(Int64(term)))])
    }

    static func notInOffice(leader: String?, term: UInt64) -> ApiAnswer {
        ApiAnswer(status: 409, [.init("reason", .string("this node is not in office; ask the leader")),
                                .init("leader", leader.map { .member($0) } ?? .null), .init("term", .int(Int64(term)))])
    }

    static func handedOver(term: UInt64, successor: String, successorTerm: UInt64) -> ApiAnswer {
        ApiAnswer(status: 200, [.init("resigned", .bool(true)), .init("term", .int(Int64(term))),
                                .init("successor", .string(successor)), .init("successor_term", .int(Int64(successorTerm)))])
    }

    static func electedAgain(term: UInt64, me: String) -> ApiAnswer {
        ApiAnswer(status: 503, [.init("resigned", .bool(false)), .init("term", .int(Int64(term))), .init("successor", .string(me)),
                                .init("reason", .string("the hand-over failed and this node was elected again"))])
    }

    /// noSuccessorHeard: the wait ran out; `then` says what happens next.
    static func noSuccessorHeard(term: UInt64, resigned: Bool, wait: Interval, then: String) -> ApiAnswer {
        ApiAnswer(status: 503, [.init("resigned", .bool(resigned)), .init("term", .int(Int64(term))), .init("successor", .null),
                                .init("reason", .string("no successor was heard from within \(wait.nanoseconds / 1_000_000) ms; \(then)"))])
    }
}
