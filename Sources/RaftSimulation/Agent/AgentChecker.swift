import AgentDriver
import RaftCore

/// AgentChecker watches whole agents from outside (style rule 10): their answers to
/// `/is-leader`, the hook processes the executor really ran, what their disks made
/// durable and what they sent. It never asks a driver whether it is correct.
///
/// Properties:
/// - S2: at most one node in office at any simulated real instant, by each node's own
///   `/is-leader` answer (as its HTTP consumer computes it, with its own clock). A "yes"
///   claims office from that instant to the lease deadline (less the margin) mapped to
///   real time; the claim ends early only when the node itself answers "no" (it left
///   office), never by a crash or a pause (its application may still act on it).
/// - S1: at most one leader per term.
/// - S4: hook processes on one node run one at a time; every promote that started is
///   followed by exactly one demote, in order, before the next promote and before a
///   clean exit; a pair is skipped whole or not at all.
/// - S5: no message leaves before the state it depends on is durable (its term, a
///   granted vote, acknowledged entries); durable terms and votes never go back.
/// - API: every resignation and membership request is answered once, within its bound, while the agent lives.
/// - Shutdown: a SIGTERM'd agent exits within its bound.
struct AgentChecker {
    let nodeCount: Int
    var violation: Violation? = nil

    /// claimUntilNs[i]: node i claims office until then (real time); claimTerm[i] its term.
    var claimUntilNs: [Int64]
    var claimTerm: [Term]
    var leaderOfTerm: [Term: Int] = [:]
    var officeTerm: [Term?]

    var hookRunning: [Bool]
    var currentJob: [HookJob?]
    var openPromote: [Term?]

    /// outstanding[i]: resignations owed by node i, with the real time they are due by.
    var outstanding: [[RequestID: Int64]]
    var officesEntered = 0
    /// resumeAskedNs[i]: when node i was last asked to resume (it may then campaign in
    /// a paused group, to log the resume).
    var resumeAskedNs: [Int64]

    init(nodeCount: Int) {
        self.nodeCount = nodeCount
        claimUntilNs = Array(repeating: .min, count: nodeCount)
        claimTerm = Array(repeating: 0, count: nodeCount)
        officeTerm = Array(repeating: nil, count: nodeCount)
        hookRunning = Array(repeating: false, count: nodeCount)
        currentJob = Array(repeating: nil, count: nodeCount)
        openPromote = Array(repeating: nil, count: nodeCount)
        outstanding = Array(repeating: [:], count: nodeCount)
        resumeAskedNs = Array(repeating: .min, count: nodeCount)
    }

    // MARK: The maintenance pause (issue 16)

    /// observePause: a node that sees the group paused holds its own elections (its
    /// core is told so) and starts none, unless it was asked to resume a leaderless
    /// group lately; a planned hand-over's campaign skips the pre-vote, so any
    /// pre-candidate while paused is a campaign the pause should have prevented.
    mutating func observePause(node i: Int, view: AgentView, raft: RaftNode, realNs: Int64) {
        guard let p = view.pause, resumeAskedNs[i] == .min || realNs - resumeAskedNs[i] > 12_000_000_000 else { return }
        if !raft.electionsPaused {
            fail("P1", "n\(i + 1) sees the group paused (entry \(p.index)) but its core may start elections", realNs)
        } else if raft.role == .preCandidate {
            fail("P1", "n\(i + 1) asks for pre-votes while the group is paused (entry \(p.index))", realNs)
        }
    }

    mutating func fail(_ property: String, _ detail: String, _ realNs: Int64) {
        if violation == nil { violation = Violation(property: property, detail: detail, timeNs: realNs) }
    }

    // MARK: S2 and S1, from answers and views

    /// answer records node i's `/is-leader` answer at real time `realNs`: a "yes" for
    /// office `term` claims it until `leaseEndNs`.
    mutating func answer(node i: Int, yes: Bool, term: Term, leaseEndNs: Int64, realNs: Int64) {
        guard yes else {
            if claimUntilNs[i] > realNs { claimUntilNs[i] = realNs }
            return
        }
        for j in 0..<nodeCount where j != i && claimUntilNs[j] > realNs {
            fail("S2", "n\(i + 1) answers leader (term \(term)) while n\(j + 1)'s office of term \(claimTerm[j]) holds until \(Interval(nanoseconds: claimUntilNs[j])) (real time)", realNs)
            return
        }
        claimUntilNs[i] = max(max(claimUntilNs[i], realNs + 1), leaseEndNs)
        claimTerm[i] = term
    }

    /// observe checks node i's view after a step: one leader per term; office entries.
    ///
    /// A leadership counts for S1 once it can act: once the node's term is really
    /// durable (`durableTerm`, what its disk holds, not what it was told), or once it
    /// entered office. Before that it is a state a crash erases without a trace — every
    /// message waits for the term to be durable (S5, checked in `send`), the core counts
    /// its own log toward a commit only in a durable term, and office follows a commit —
    /// and a node whose disk fails can win that erased election again and again in
    /// memory (a sole voter in its own, not yet durable, configuration does, seeds 11397
    /// and 19672), while the group reuses the term after it restarts.
    mutating func observe(node i: Int, view: AgentView, durableTerm: Term, realNs: Int64) {
        if view.role == .leader && (durableTerm >= view.term || view.office?.term == view.term) {
            if let other = leaderOfTerm[view.term], other != i {
                fail("S1", "n\(other + 1) and n\(i + 1) are both leaders of term \(view.term)", realNs)
            } else {
                leaderOfTerm[view.term] = i
            }
        }
        let term = view.office?.term
        if term != officeTerm[i] {
            if term != nil { officesEntered += 1 }
            officeTerm[i] = term
        }
    }

    // MARK: S4, from the processes the executor ran

    mutating func hookStarted(node i: Int, request: HookStepRequest, realNs: Int64) {
        if hookRunning[i] {
            fail("S4", "n\(i + 1) started \(request.hook) for \(request.job) while another hook process still runs", realNs)
        }
        hookRunning[i] = true
        guard currentJob[i] != request.job else { return }
        currentJob[i] = request.job
        let t = request.job.term
        switch request.job.event {
        case .promote:
            if let open = openPromote[i] {
                fail("S4", "n\(i + 1) started the promote of term \(t) while the promote of term \(open) has had no demote", realNs)
            }
            openPromote[i] = t
        case .demote:
            if openPromote[i] != t {
                fail("S4", "n\(i + 1) started the demote of term \(t) without its promote (open promote: \(openPromote[i].map { "term \($0)" } ?? "none"))", realNs)
            }
            openPromote[i] = nil
        case .change:
            break  // --on-change alone, for a leader elsewhere: no pairing
        case .startup:
            if let open = openPromote[i] {
                fail("S4", "n\(i + 1) ran its start-up hook with the promote of term \(open) still open", realNs)
            }
        }
    }

    mutating func hookEnded(node i: Int, realNs: Int64) { hookRunning[i] = false }

    /// lifeEnded: node i's process is gone; a clean exit must have paired every promote.
    mutating func lifeEnded(node i: Int, cleanExit: Bool, realNs: Int64) {
        if cleanExit, let open = openPromote[i] {
            fail("S4", "n\(i + 1) exited cleanly with the promote of term \(open) never followed by its demote", realNs)
        }
        hookRunning[i] = false
        currentJob[i] = nil
        openPromote[i] = nil
        outstanding[i] = [:]
        officeTerm[i] = nil
    }

    /// settled checks at the end of a run that an idle node out of office has no promote
    /// without its demote.
    mutating func settled(node i: Int, view: AgentView, realNs: Int64) {
        if let open = openPromote[i], view.office?.term != open, view.hooksIdle {
            fail("S4", "n\(i + 1) left office of term \(open) and its hooks are idle, but the promote of term \(open) was never followed by its demote", realNs)
        }
    }

    // MARK: S5, from the disk and the wire

    mutating func durableWrite(node i: Int, old: HardState, new: HardState, realNs: Int64) {
        if new.term < old.term {
            fail("S5", "n\(i + 1) made term \(new.term) durable over term \(old.term)", realNs)
        } else if new.term == old.term, let voted = old.votedFor, new.votedFor != voted {
            fail("S5", "n\(i + 1) made vote \(new.votedFor.map { "\($0)" } ?? "none") durable in term \(new.term) over its vote \(voted)", realNs)
        }
    }

    mutating func send(node i: Int, message m: Message, durable: PersistentState, realNs: Int64) {
        let hs = durable.hardState
        switch m.body {
        case .preVote, .preVoteResponse:
            return  // carry a proposed term, not an adopted one
        case .voteResponse(let granted):
            if granted && !(hs.term > m.term || (hs.term == m.term && hs.votedFor == m.to)) {
                return fail("S5", "n\(i + 1) sent its vote for \(m.to) in term \(m.term) before it was durable (durable term \(hs.term), vote \(hs.votedFor.map { "\($0)" } ?? "none"))", realNs)
            }
        case .appendResponse(let success, let matchIndex, _, _, _):
            let durableIndex = max(durable.log.last?.index ?? 0, durable.snapshot?.index ?? 0)
            if success && matchIndex > durableIndex {
                return fail("S5", "n\(i + 1) acknowledged index \(matchIndex) with entries up to \(durableIndex) durable", realNs)
            }
        case .vote, .append, .timeoutNow, .installSnapshot:
            break
        }
        if m.term > hs.term {
            fail("S5", "n\(i + 1) sent a term-\(m.term) message before that term was durable (durable term \(hs.term))", realNs)
        }
    }

    // MARK: API answers

    mutating func asked(node i: Int, request: RequestID, dueNs: Int64) { outstanding[i][request] = dueNs }

    mutating func answered(node i: Int, request: RequestID, realNs: Int64) {
        if outstanding[i].removeValue(forKey: request) == nil {
            fail("API", "n\(i + 1) answered request \(request) it did not owe (twice, or never asked)", realNs)
        }
    }

    mutating func overdue(node i: Int, realNs: Int64) {
        for (request, due) in outstanding[i] where due < realNs {
            fail("API", "n\(i + 1) has not answered request \(request) (a resignation or a membership change) by its bound \(Interval(nanoseconds: due))", realNs)
        }
    }
}
