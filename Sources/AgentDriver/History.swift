// The replicated leadership history of issue 16: the leader logs every office change
// (who, term, previous leader, why, its wall clock and CLOCK_BOOTTIME) and its promote
// hook's outcome as log entries, so every member answers GET /history with the same
// list, which survives restarts and the loss of any minority, and is bounded and
// compacted with the rest of the log (ReplicatedState.history).
//
// Who logs what: a new leader logs its `enter` (by election or transfer, naming the
// previous leader) as soon as it is in office; a leader handing over by plan logs a
// `hand-over` with the reason and who asked *before* it starts the transfer, so the
// successor has it (the core appends nothing once a transfer runs); a refused resign
// logs `hand-over-refused`. A leader that crashed or lost its lease logs nothing: the
// successor's `enter` (reason election) is then the record of it. A member's demote
// outcome, run once it left office, reaches the history through the leader
// (HookOutcomeForwarding.swift).
import AgentLogging
import RaftCore

extension AgentDriver {
    /// noteEnteredOffice queues this leader's `enter` record (logged by `flushHistory`
    /// after the step: never from inside a core step).
    func noteEnteredOffice(term: Term, reason: EnterReason, previous: NodeID?, now: Instant) {
        pendingHistory.append(.office(OfficeRecord(
            event: .enter, term: term, member: settings.name, previous: previous.flatMap { name($0) } ?? "",
            reason: reason.rawValue, by: "", wallMs: wallMs, bootNs: now.nanoseconds)))
    }

    /// logHandOver appends a `hand-over` record now, before the transfer starts.
    func logHandOver(reason: String, by: String, now: Instant) {
        guard raft.role == .leader, !raft.isTransferring, let term = raft.office?.term else { return }
        proposeHistory(.office(OfficeRecord(event: .handOver, term: term, member: settings.name, previous: "",
                                            reason: reason, by: by, wallMs: wallMs, bootNs: now.nanoseconds)), now: now)
    }

    /// logHandOverRefused: a requested hand-over found nobody to take over.
    func logHandOverRefused(_ refusal: String, by: String, now: Instant) {
        guard raft.role == .leader, !raft.isTransferring, let term = raft.office?.term else { return }
        proposeHistory(.office(OfficeRecord(event: .handOverRefused, term: term, member: settings.name, previous: "",
                                            reason: refusal, by: by, wallMs: wallMs, bootNs: now.nanoseconds)), now: now)
    }

    /// noteHookOutcome queues the outcome of a hook run: a promote for this node's
    /// office it logs itself; a demote (the office it left) it logs if it leads again,
    /// else its leader does (HookOutcomeForwarding.swift).
    func noteHookOutcome(event: HookEvent, term: Term, hook: String, _ outcome: HookStepOutcome) {
        let record = HookRecord(
            term: term, member: settings.name, hook: hook, exitCode: outcome.exitCode.map(Int64.init),
            durationMs: outcome.duration.nanoseconds / 1_000_000, timedOut: outcome.timedOut, summary: outcome.summary)
        switch event {
        case .promote where raft.office?.term == term:
            pendingHistory.append(.hook(record))
        case .demote where raft.role == .leader && raft.office != nil:
            pendingHistory.append(.hook(record))
        case .demote:
            noteOwnHookOutcome(record)
        default:
            break
        }
    }

    /// flushHistory logs what was queued, while this node is in office; what a leader
    /// that left office had queued is dropped (its successor logs its own entry).
    func flushHistory(now: Instant) {
        guard !pendingHistory.isEmpty else { return }
        guard raft.role == .leader, raft.office != nil else {
            pendingHistory.removeAll()
            return
        }
        guard !raft.isTransferring else { return }
        let queued = pendingHistory
        pendingHistory.removeAll()
        for r in queued { proposeHistory(r, now: now) }
    }

    private func proposeHistory(_ record: ControlRecord, now: Instant) {
        let before = raft.lastLogIndex
        stepCore(.propose(record.encoded()), now: now)
        if raft.lastLogIndex == before {
            log("history-dropped", .warning, "a history record could not be appended (the log is full or a hand-over began)", [], .always)
        }
    }

    /// refreshHistory puts the replicated history in the view when it changed.
    func refreshHistory() {
        let h = replicated.history
        if h.count != view.history.count || h.last?.index != view.history.last?.index { view.history = h }
    }
}
