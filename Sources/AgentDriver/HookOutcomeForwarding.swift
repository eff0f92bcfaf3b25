// A member's own hook outcomes in the replicated history (issue 16): a follower cannot
// append, so the outcome of a hook it ran — the old leader's demote, after it left
// office — is kept here and forwarded by the shell to the leader (`POST /history/hooks`,
// Agent/HookOutcomeForwarding.swift), which appends it. The follower keeps sending
// what the history does not yet hold, so a lost request or a leader that died before
// committing it is retried; the leader skips one it already holds (same term, member
// and hook), so retries never duplicate a record.
//
// What is forwarded: the steps of a demote run (its on-demote, on-change, leader-unit
// outcomes). A promote's outcome the leader logs itself (History.swift); a change run
// on every follower at every election is not history worth a record per member.
import AgentLogging
public import RaftCore

/// OwnHookOutcomes are this node's outcomes its leader is to log.
struct OwnHookOutcomes {
    /// records: the newest `kept`, oldest first.
    var records: [HookRecord] = []
    /// kept bounds what waits to be forwarded: a node makes one demote run per office it
    /// leaves, so 16 outlast any burst of elections the leader could not take them in.
    static let kept = 16
    /// What the view's list was last worked out from: the history's newest index and
    /// count, unless the records changed since (`dirty`).
    var checkedIndex: LogIndex = 0
    var checkedCount = 0
    var dirty = false
}

/// HookOutcomeLimits are the forwarded outcomes' bounds, for the API to check.
public enum HookOutcomeLimits {
    /// perRequest: the most outcomes one `POST /history/hooks` carries.
    public static var perRequest: Int { OwnHookOutcomes.kept }
    /// hooks: the hook names a record may carry.
    public static let hooks: Set<String> = ["on-promote", "on-demote", "on-change", "leader-unit"]
}

extension AgentDriver {
    /// noteOwnHookOutcome keeps an outcome of this node's for the leader to log.
    func noteOwnHookOutcome(_ record: HookRecord) {
        var own = ownHookOutcomes
        own.records.append(record)
        if own.records.count > OwnHookOutcomes.kept { own.records.removeFirst(own.records.count - OwnHookOutcomes.kept) }
        own.dirty = true
        ownHookOutcomes = own
    }

    /// refreshOutcomesToForward: the view lists the own outcomes the history does not
    /// hold yet (worked out again when the history or the list changed).
    func refreshOutcomesToForward() {
        // In office again before they were sent: this node logs them itself.
        if !ownHookOutcomes.records.isEmpty && raft.role == .leader && raft.office != nil && !raft.isTransferring {
            for r in ownHookOutcomes.records where !hookRecorded(r) { pendingHistory.append(.hook(r)) }
            ownHookOutcomes.records.removeAll()
            ownHookOutcomes.dirty = true
        }
        let h = replicated.history
        let index = h.last?.index ?? 0
        guard ownHookOutcomes.dirty || index != ownHookOutcomes.checkedIndex || h.count != ownHookOutcomes.checkedCount else { return }
        ownHookOutcomes.dirty = false
        ownHookOutcomes.checkedIndex = index
        ownHookOutcomes.checkedCount = h.count
        ownHookOutcomes.records.removeAll { hookRecorded($0, inHistoryOnly: true) }
        if view.hookOutcomesToForward != ownHookOutcomes.records { view.hookOutcomesToForward = ownHookOutcomes.records }
    }

    /// hookRecorded: the history (and, unless `inHistoryOnly`, this leader's log tail
    /// and queue) already holds a record of this hook for this member and term.
    func hookRecorded(_ r: HookRecord, inHistoryOnly: Bool = false) -> Bool {
        func same(_ c: ControlRecord) -> Bool {
            if case .hook(let h) = c { return h.term == r.term && h.member == r.member && h.hook == r.hook }
            return false
        }
        if replicated.history.contains(where: { same($0.record) }) { return true }
        if inHistoryOnly { return false }
        if pendingHistory.contains(where: same) { return true }
        for e in raft.log.reversed() {
            guard e.index > replicated.appliedIndex else { break }
            if case .data(let bytes) = e.payload, let c = ControlRecord.decode(bytes), same(c) { return true }
        }
        return false
    }

    /// hookOutcomesForwarded handles `POST /history/hooks` on the leader: appends each
    /// outcome it does not hold yet; answers at once (the sender retries until the
    /// history shows them, so waiting for the commit would add nothing).
    func hookOutcomesForwarded(_ request: RequestID, _ records: [HookRecord], client: String, now: Instant) {
        guard leaderForControl(request, now: now) != nil else { return }
        let names = Set((raft.configuration?.members ?? []).map(\.name))
        for r in records {
            guard names.contains(r.member), r.member != settings.name else {
                return controlAnswer(request, 400, [.init("reason", .string("member: '\(r.member)' is not another member of the group"))])
            }
            guard r.term >= 1, r.term <= raft.term else {
                return controlAnswer(request, 400, [.init("reason", .string("term: \(r.term) is not a term of this group (1 to \(raft.term))"))])
            }
        }
        var appended = 0, known = 0
        for r in records {
            if hookRecorded(r) { known += 1; continue }
            let before = raft.lastLogIndex
            stepCore(.propose(ControlRecord.hook(r).encoded()), now: now)
            guard raft.lastLogIndex == before + 1 else {
                return controlAnswer(request, 503, [.init("reason", .string("the leader could not append now (handing over, or the log is full); retry"))])
            }
            appended += 1
        }
        if appended > 0 {
            log("hook-outcomes-forwarded", .info, "logged \(appended) hook outcome(s) forwarded by \(client)",
                [("appended", .number(appended)), ("known", .number(known)), ("client", .string(client))], .always)
        }
        controlAnswer(request, 200, [.init("appended", .int(Int64(appended))), .init("known", .int(Int64(known)))])
    }
}
