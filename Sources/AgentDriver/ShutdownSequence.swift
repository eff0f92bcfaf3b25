// SIGTERM (design L2): a leader leaves office, runs its demote hook to completion
// (bounded by the hook timeout), hands over to the most up-to-date follower (TimeoutNow
// goes out once the demote finished), waits, bounded, until a successor leads in a
// higher term, lets what waits for the disk go out, and exits. Every wait has its
// deadline in `nextDeadline`: nothing polls.
import AgentLogging
import RaftCore

/// ShutdownSequence is where a stopping agent is.
struct ShutdownSequence {
    var start: Instant
    /// wasLeader: this node led when stopping began (and has someone to hand over to).
    var wasLeader: Bool
    var termAtStart: Term
    var hookDeadline: Instant
    /// hooksDone: when the hooks went idle (or their bound passed).
    var hooksDone: Instant? = nil
    var reported = false

    var successorDeadline: Instant = .distantFuture
    var flushDeadline: Instant = .distantFuture

    /// nextDeadline is the next bound to check.
    var nextDeadline: Instant? {
        if hooksDone == nil { return hookDeadline }
        return reported ? flushDeadline : successorDeadline
    }
}

extension ShutdownSequence {
    /// settleHooks waits for the hooks to go idle, bounded by `hookDeadline`; then the
    /// wait for a successor (`successorBound`) and for what waits on the disk after it
    /// (`flushBound`) begins. False while still waiting; a hook cut short is logged.
    mutating func settleHooks(idle: Bool, now: Instant, successorBound: Interval, flushBound: Interval,
                              log: (LogEvent) -> Void) -> Bool {
        guard hooksDone == nil else { return true }
        guard idle || now >= hookDeadline else { return false }
        hooksDone = now
        successorDeadline = now + successorBound
        flushDeadline = now + successorBound + flushBound
        if !idle { log(LogEvent("stopping-hook-timeout", .warning, "stopping without waiting longer for a running hook", [], .always)) }
        return true
    }
}

extension AgentDriver {
    func terminate(now: Instant) {
        if shutdown != nil {
            // A second signal: now. Kill the running hook and exit.
            log("stopping-now", .warning, "a second signal: killing the running hook and exiting now", [], .essential)
            ports.hooks.killRunning()
            finish(now: now)
            return
        }
        let wasLeader = raft.role == .leader && (raft.configuration?.voters.count ?? 1) > 1
        shutdown = ShutdownSequence(start: now, wasLeader: wasLeader, termAtStart: raft.term,
                                    hookDeadline: now + settings.shutdownHookBound)
        view.phase = .stopping
        log("stopping", .notice, raft.role == .leader ? "stopping: handing over first" : "stopping", [], .essential)
        gate.stopping = true
        follow(.updateCampaign)
        if raft.role == .leader {
            logHandOver(reason: LeaveReason.shutdown.rawValue, by: "SIGTERM", now: now)
            let ready = stepCore(.shutdown, now: now)
            if let outcome = ready.transferOutcome {
                log("hand-over", .info, "hand-over: \(describe(outcome))", [("outcome", .string(describe(outcome)))], .always)
            }
        }
    }

    private func describe(_ outcome: TransferOutcome) -> String {
        switch outcome {
        case .started(let target): return "started to \(name(target) ?? "\(target)")"
        case .steppedDown: return "stepped down (no successor)"
        case .refused(let why): return "refused: \(why.rawValue)"
        }
    }

    /// advanceShutdown moves a stopping agent on after every input.
    func advanceShutdown(now: Instant) {
        guard shutdown != nil, view.phase == .stopping else { return }
        guard shutdown!.settleHooks(idle: hookSequence.isIdle, now: now, successorBound: settings.shutdownSuccessorBound,
                                    flushBound: DriverSettings.shutdownFlushBound, log: { ports.log.event($0) }) else { return }
        let s = shutdown!
        let successor = raft.term > s.termAtStart && raft.leader != nil && raft.leader != me
        guard !s.wasLeader || successor || now >= s.successorDeadline else { return }
        if !s.reported {
            shutdown!.reported = true
            if s.wasLeader {
                var fields: LogFields = [("after_ms", .number((now - s.start).nanoseconds / 1_000_000))]
                let successorName = successor ? name(raft.leader) : nil
                if let successorName { fields.append(("successor", .string(successorName))) }
                if successor {
                    log("handed-over", .notice, "handed over to \(successorName ?? "?"), term \(raft.term)", fields, .essential)
                } else {
                    log("hand-over-unconfirmed", .warning, "no successor was heard before stopping", fields, .essential)
                }
            }
        }
        guard pipeline.isFlushed || now >= s.flushDeadline else { return }
        finish(now: now)
    }

    /// finish ends the agent: the view says so, and the process exits.
    func finish(now: Instant) {
        view.phase = .finished
        view.generation &+= 1
        log("stopped", .notice, "stopped", [], .essential)
        ports.lifecycle.exit(code: 0)
    }
}
