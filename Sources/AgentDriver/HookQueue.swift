// The order in which hooks run (design S4), as a pure value: office changes and hook
// completions go in, actions come out. The driver (HookSequencer) performs the actions;
// keeping the decisions here makes every rule a row in a table test.

/// HookEvent is `BATON_EVENT`: what the application is told.
public enum HookEvent: String, Hashable, Sendable {
    case promote, demote, startup
    /// The leader changed while this node's office did not (a follower, an observer):
    /// only `--on-change` runs, so an observer's application can follow the leader.
    case change
}

/// HookJob is one transition's hook run: the specific hook, then `--on-change`.
public struct HookJob: Hashable, Sendable, CustomStringConvertible {
    public var event: HookEvent
    /// The office's term, the fencing token (0 for the start-up run).
    public var term: UInt64
    /// `BATON_REASON`: election, transfer, lease-lost, higher-term, shutdown, startup,
    /// check-failed, promote-failed.
    public var reason: String

    public init(event: HookEvent, term: UInt64, reason: String) {
        self.event = event; self.term = term; self.reason = reason
    }
    public var description: String { "\(event.rawValue)(term \(term), \(reason))" }
}

/// HookAction is what the queue asks its driver to do.
public enum HookAction: Hashable, Sendable {
    /// Run the job's commands now.
    case start(HookJob)
    /// Wait `--promote-delay`, then call `promoteDelayElapsed(term:)`.
    case waitPromoteDelay(term: UInt64)
    /// The promote of `term` never started, because its office ended first; its demote
    /// is skipped too (log it).
    case skipped(term: UInt64)
    /// Tell the core the demote for `term` is over (so a transfer may go on).
    case demoteFinished(term: UInt64)
    /// The promote of `term` failed while still in office and the policy is resign.
    case resign(term: UInt64)
    /// The start-up run is over: the node may campaign.
    case startupFinished
}

/// HookQueue: one job at a time, in transition order; every promote that starts is
/// followed by exactly one demote; a promote that could not start before its office
/// ended is dropped together with its demote.
public struct HookQueue: Sendable {
    enum Entry: Hashable, Sendable {
        case job(HookJob)
        /// Stands for a skipped promote/demote pair: when it reaches the head, the core
        /// is told the (never run) demote is over. It waits its turn so that a transfer
        /// does not go ahead while an earlier demote of this node is still running.
        case skippedDemote(term: UInt64)
    }

    enum Current: Hashable, Sendable {
        case running(HookJob)
        case delaying(HookJob)
    }

    /// Both can change between jobs (SIGHUP): `AgentDriver.reload`.
    public var promoteDelayed: Bool
    public var resignOnPromoteFailure: Bool
    private(set) var pending: [Entry] = []
    private(set) var current: Current? = nil
    /// The term of the office held now, between enter and leave.
    public private(set) var officeTerm: UInt64? = nil

    /// init queues the start-up run; call `begin()` to start it.
    public init(promoteDelayed: Bool, resignOnPromoteFailure: Bool) {
        self.promoteDelayed = promoteDelayed
        self.resignOnPromoteFailure = resignOnPromoteFailure
        pending = [.job(HookJob(event: .startup, term: 0, reason: "startup"))]
    }

    /// isIdle: nothing runs, waits or is queued.
    public var isIdle: Bool { current == nil && pending.isEmpty }

    /// running is the job whose commands run now, if any.
    public var running: HookJob? {
        if case .running(let job)? = current { return job }
        return nil
    }

    public mutating func begin() -> [HookAction] { pump() }

    public mutating func officeEntered(term: UInt64, reason: String) -> [HookAction] {
        officeTerm = term
        pending.append(.job(HookJob(event: .promote, term: term, reason: reason)))
        return pump()
    }

    public mutating func officeLeft(term: UInt64, reason: String) -> [HookAction] {
        if officeTerm == term { officeTerm = nil }
        let promote = HookJob(event: .promote, term: term, reason: "")
        func isPromote(_ e: Entry) -> Bool {
            if case .job(let j) = e { return j.event == .promote && j.term == term }
            return false
        }
        if let i = pending.firstIndex(where: isPromote) {
            pending[i] = .skippedDemote(term: term)
            return [.skipped(term: term)] + pump()
        }
        if case .delaying(let job)? = current, job.term == promote.term {
            current = nil
            pending.insert(.skippedDemote(term: term), at: 0)
            return [.skipped(term: term)] + pump()
        }
        pending.append(.job(HookJob(event: .demote, term: term, reason: reason)))
        return pump()
    }

    /// leaderChanged queues a `change` run (the leader of `term` is another node). Only
    /// the latest matters: one still waiting is replaced, so an election storm is one run.
    public mutating func leaderChanged(term: UInt64, reason: String) -> [HookAction] {
        let job = HookJob(event: .change, term: term, reason: reason)
        if case .job(let last)? = pending.last, last.event == .change {
            pending[pending.count - 1] = .job(job)
        } else {
            pending.append(.job(job))
        }
        return pump()
    }

    public mutating func promoteDelayElapsed(term: UInt64) -> [HookAction] {
        guard case .delaying(let job)? = current, job.term == term else { return [] }
        current = .running(job)
        return [.start(job)]
    }

    /// finished: the running job's commands are done; `succeeded` is false when any of
    /// them failed (non-zero exit, signal, timeout, could not start).
    public mutating func finished(succeeded: Bool) -> [HookAction] {
        guard case .running(let job)? = current else { return [] }
        current = nil
        var actions: [HookAction] = []
        switch job.event {
        case .startup: actions.append(.startupFinished)
        case .demote: actions.append(.demoteFinished(term: job.term))
        case .change: break
        case .promote:
            if !succeeded && resignOnPromoteFailure && officeTerm == job.term {
                actions.append(.resign(term: job.term))
            }
        }
        return actions + pump()
    }

    private mutating func pump() -> [HookAction] {
        var actions: [HookAction] = []
        while current == nil, !pending.isEmpty {
            switch pending.removeFirst() {
            case .skippedDemote(let term):
                actions.append(.demoteFinished(term: term))
            case .job(let job):
                if job.event == .promote && promoteDelayed {
                    current = .delaying(job)
                    actions.append(.waitPromoteDelay(term: job.term))
                } else {
                    current = .running(job)
                    actions.append(.start(job))
                }
            }
        }
        return actions
    }
}
