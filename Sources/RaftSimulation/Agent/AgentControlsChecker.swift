// The operator controls' checkers of the agent-layer simulation (issue 16, "Safety"),
// beside AgentChecker's P1 (a paused member never asks for pre-votes). They judge from
// what a user could see — roles and views after each step, the messages on the wire,
// the hook processes the executor ran, the replicated history — never from a driver's
// opinion of its own correctness:
// - P2: no office change while the group is paused except a planned one: a member whose
//   log says paused becomes leader only by a transfer (it was sent TimeoutNow) or to log
//   a resume it was asked for; a paused leader starts a hand-over only by plan (resign,
//   SIGTERM, a membership change), never for a failing check, a failed promote or a
//   preemption (the reason its `hand-over` history record gives).
// - PN: a leader running with `--no-preempt` never hands over to preempt.
// - SH: a scheduled hand-over is carried out only to a member that may lead (a voter
//   with priority above 0, not the leader itself), and never while paused (P2).
// - PZ: a member whose configuration gives it priority 0 never campaigns (pre-candidate
//   or candidate) nor becomes leader.
// - H1: demote before promote on a planned hand-over: a leader sends TimeoutNow for term
//   T only after the demote hook of its office of term T ran (if its promote ran).
// - HP: every member's replicated history is the group's: a record at a log index is the
//   same on every member, and a member's history holds every record the group committed
//   up to its newest one (older ones only past the history's bound).
// - PR (liveness, stable windows only): with preemption on, once the network is healed
//   and nothing has changed for `preemptBoundNs`, the leader has the highest priority
//   among the members able to lead (see `preemptionWindow` for "able").
import AgentDriver
import RaftCore

/// ControlsCheckState is what these checkers remember between steps.
struct ControlsCheckState {
    /// leaderTerm[i]: the term node i was last seen leading (another: a new leader).
    var leaderTerm: [Term]
    /// timeoutNowTerm[i]: the term of the last TimeoutNow delivered to node i.
    var timeoutNowTerm: [Term]
    /// transferring[i]: node i was handing over after its last step.
    var transferring: [Bool]
    /// historyAt: the records the group committed, by log index, as members applied them.
    var historyAt: [LogIndex: HistoryEntry] = [:]
    /// historyIndexes: the keys of `historyAt`, ascending.
    var historyIndexes: [LogIndex] = []
    /// seenHistory[i]: the size and newest index of node i's history when last checked.
    var seenHistory: [HistoryMark]
    /// The preemption window: what held at its start, and when it started.
    var windowKey: [Int]? = nil
    var windowStartNs: Int64 = 0
    /// windows: stable windows in which a preemption was due (for the run's stats).
    var windows = 0

    struct HistoryMark: Equatable {
        var count = 0
        var last: LogIndex = 0
    }

    init(nodeCount: Int) {
        leaderTerm = Array(repeating: 0, count: nodeCount)
        timeoutNowTerm = Array(repeating: 0, count: nodeCount)
        transferring = Array(repeating: false, count: nodeCount)
        seenHistory = Array(repeating: HistoryMark(), count: nodeCount)
    }
}

extension AgentSimulation {
    /// resumeAskedLately: node i was asked to resume lately; it may then campaign in a
    /// paused group to log the resume (the window P1 uses).
    func resumeAskedLately(_ i: Int) -> Bool {
        let asked = checker.resumeAskedNs[i]
        return asked != .min && nowNs - asked <= 12_000_000_000
    }

    /// checkControls runs after every step of node i: P2, PZ and HP.
    func checkControls(_ i: Int, _ driver: AgentDriver) {
        let raft = driver.raft
        let view = driver.view
        let newLeader = raft.role == .leader && controls.leaderTerm[i] != raft.term
        if newLeader { controls.leaderTerm[i] = raft.term }

        if let me = raft.selfMember, me.priority == 0, raft.role == .preCandidate || raft.role == .candidate || newLeader {
            fail("PZ", "n\(i + 1) has priority 0 in its configuration (entry \(raft.configurationIndex)) and is \(raft.role) in term \(raft.term)")
        }

        if newLeader, let p = view.pause, controls.timeoutNowTerm[i] != raft.term - 1, !resumeAskedLately(i) {
            fail("P2", "n\(i + 1) became leader of term \(raft.term) by an election while its log says the group is paused (entry \(p.index)); only a planned hand-over may change the office while paused")
        }
        let transferring = raft.isTransferring
        if transferring && !controls.transferring[i], let reason = handOverReason(raft) {
            // A scheduled hand-over is planned, but the pause drops it at its moment.
            let unplanned = reason.hasPrefix("preempt") || reason.hasPrefix(Self.scheduledPrefix)
                || reason == LeaveReason.checkFailed.rawValue || reason == LeaveReason.promoteFailed.rawValue
            if unplanned, let p = view.pause, !resumeAskedLately(i) {
                fail("P2", "n\(i + 1) began handing over (\(reason)) in term \(raft.term) while the group is paused (entry \(p.index)); only resign, SIGTERM and membership changes hand over while paused")
            } else if reason.hasPrefix("preempt") && !driver.settings.preempt {
                fail("PN", "n\(i + 1) runs with --no-preempt but began handing over in term \(raft.term) (\(reason))")
            } else if reason.hasPrefix(Self.scheduledPrefix) {
                let target = String(reason.dropFirst(Self.scheduledPrefix.count).prefix { $0 != " " })
                let m = raft.configuration?.members.first { $0.name == target }
                if m == nil || m!.mayLead == false || m!.id == raft.selfMember?.id {
                    fail("SH", "n\(i + 1) carries out the hand-over scheduled to \(target) in term \(raft.term), which cannot lead by its configuration (\(m.map { "\($0.role), priority \($0.priority)" } ?? "not a member"))")
                }
            }
        }
        controls.transferring[i] = transferring

        checkHistory(i, view.history)
    }

    /// scheduledPrefix starts the reason of a scheduled hand-over's `hand-over` record.
    static let scheduledPrefix = "scheduled hand-over to "

    /// handOverReason: the reason of the `hand-over` record this leader logged for its
    /// office (the newest of its term, near the log's end), if any.
    private func handOverReason(_ raft: RaftNode) -> String? {
        for e in raft.log.reversed().prefix(64) {
            guard e.term == raft.term else { break }
            guard case .data(let bytes) = e.payload, case .office(let r)? = ControlRecord.decode(bytes),
                  r.event == .handOver, r.term == raft.term else { continue }
            return r.reason
        }
        return nil
    }

    /// checkTimeoutNow (H1) looks at every message node i sends.
    func checkTimeoutNow(_ i: Int, _ m: Message) {
        guard case .timeoutNow = m.body else { return }
        if checker.openPromote[i] == m.term {
            fail("H1", "n\(i + 1) sent TimeoutNow in term \(m.term) before the demote hook of that office started (its promote ran): the successor may promote before it demoted")
        } else if checker.hookRunning[i], let job = checker.currentJob[i], job.event == .demote, job.term == m.term {
            fail("H1", "n\(i + 1) sent TimeoutNow in term \(m.term) while the demote hook of that office still runs")
        }
    }

    /// noteDelivered records a TimeoutNow reaching node i (P2: a planned hand-over).
    func noteDelivered(_ i: Int, _ m: Message) {
        if case .timeoutNow = m.body { controls.timeoutNowTerm[i] = m.term }
    }

    // MARK: HP

    private func checkHistory(_ i: Int, _ h: [HistoryEntry]) {
        let mark = ControlsCheckState.HistoryMark(count: h.count, last: h.last?.index ?? 0)
        guard mark != controls.seenHistory[i] else { return }
        controls.seenHistory[i] = mark
        guard let last = h.last else { return }
        for e in h {
            if let known = controls.historyAt[e.index] {
                if known != e {
                    return fail("HP", "n\(i + 1)'s history has \(e.record) at index \(e.index) (term \(e.term)) where another member applied \(known.record) (term \(known.term))")
                }
            } else {
                controls.historyAt[e.index] = e
                let k = Self.countAtOrBelow(controls.historyIndexes, e.index)
                controls.historyIndexes.insert(e.index, at: k)
            }
        }
        // Every record of h is known now; the group's records up to its newest must all be in h
        // (the oldest may have been dropped once h reached the bound).
        let upTo = Self.countAtOrBelow(controls.historyIndexes, last.index)
        if h.count < ReplicatedStateLimits.historyLimit {
            if h.count != upTo {
                let have = Set(h.map(\.index))
                let missing = controls.historyIndexes[..<upTo].first { !have.contains($0) }
                fail("HP", "n\(i + 1)'s history (\(h.count) records up to index \(last.index)) misses the record at index \(missing.map { "\($0)" } ?? "?") that the group committed")
            }
        } else if upTo < h.count || controls.historyIndexes[upTo - h.count] != h[0].index {
            fail("HP", "n\(i + 1)'s history (\(h.count) records, at its bound) is not the newest \(h.count) records the group committed up to index \(last.index)")
        }
    }

    /// countAtOrBelow: how many of the ascending `xs` are at most `x` (binary search).
    static func countAtOrBelow(_ xs: [LogIndex], _ x: LogIndex) -> Int {
        var lo = 0, hi = xs.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if xs[mid] <= x { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    // MARK: PR

    /// preemptBoundNs: from a stable window's start, the time by which the leader must
    /// have handed over to a higher priority: `--preempt-after`, plus what a hand-over
    /// takes — the watch's freshness window (Emin), the running promote and the demote
    /// hook (each to its bound), the promote delay, catching up, TimeoutNow and the
    /// election (Emax each, with room for one failed transfer), two check intervals.
    var preemptBoundNs: Int64 {
        let step = nodes.map { $0.settings.hooks.stepBound.nanoseconds }.max() ?? 0
        let delay = nodes.map { $0.settings.hooks.promoteDelay.nanoseconds }.max() ?? 0
        return priorities.preemptAfter.nanoseconds + options.electionTimeoutMin.nanoseconds + 2 * step + delay
            + 3 * options.electionTimeoutMax.nanoseconds + 2 * checkIntervalNs + 500_000_000
    }

    /// checkPreemption runs at every probe of the liveness phase.
    func checkPreemption() {
        guard phase == .liveness, priorities.active, priorities.preempt, checker.violation == nil else { return }
        guard let (key, detail) = preemptionWindow() else {
            controls.windowKey = nil
            return
        }
        if controls.windowKey != key {
            controls.windowKey = key
            controls.windowStartNs = nowNs
            controls.windows += 1
            return
        }
        if nowNs - controls.windowStartNs > preemptBoundNs {
            fail("PR", "\(detail), unchanged since \(Interval(nanoseconds: controls.windowStartNs)) — longer than --preempt-after \(priorities.preemptAfter) plus a hand-over (bound \(Interval(nanoseconds: preemptBoundNs)))")
        }
    }

    /// preemptionWindow describes the state in which a preemption is due, or nil when
    /// none is (or the state is not stable enough to say). A member is *able* when all
    /// of these hold, conservatively (each is something a preemption needs):
    /// - healed (liveness phase), running, not stopped, not SIGTERM'd, its data dir's
    ///   incarnation the one the configuration binds;
    /// - a voter of the leader's configuration, which is committed (no change in flight)
    ///   and the one the member itself has, with a priority above 0;
    /// - its core lets it campaign (start-up hook done, check passing, no back-off) and
    ///   the group is not paused on it;
    /// - it follows this leader and holds everything the leader committed.
    /// The leader: healed, running, in office by its own clock, not handing over, not
    /// paused; due when an able member's priority is above its own.
    func preemptionWindow() -> ([Int], String)? {
        guard let l = (0..<nodeCount).first(where: { healed[$0] && nodes[$0].driver?.raft.role == .leader }),
              let ld = nodes[l].driver, !nodes[l].paused, nodes[l].terminatedAtNs == nil else { return nil }
        let lr = ld.raft
        guard ld.view.isInOffice(at: nodes[l].clock.reading(atReal: nowNs)), !lr.isTransferring, ld.view.pause == nil,
              let c = lr.configuration, lr.configurationIndex <= lr.commitIndex, let mine = c.member(nodes[l].id) else { return nil }
        var able: [(k: Int, priority: UInt16)] = []
        for k in 0..<nodeCount where k != l && healed[k] {
            let node = nodes[k]
            guard let d = node.driver, !node.paused, node.terminatedAtNs == nil, !stateLost.contains(k),
                  let m = c.member(node.id), m.mayLead, m.incarnation == 0 || m.incarnation == node.incarnation,
                  d.raft.configurationIndex == lr.configurationIndex, d.raft.campaignAllowed, !d.raft.electionsPaused,
                  d.view.pause == nil, d.raft.leader == nodes[l].id, d.raft.term == lr.term,
                  d.raft.lastLogIndex >= lr.commitIndex else { continue }
            able.append((k, m.priority))
        }
        guard let best = able.max(by: { $0.priority < $1.priority }), best.priority > mine.priority else { return nil }
        let key = [l, Int(lr.term), Int(lr.configurationIndex)] + able.flatMap { [$0.k, Int($0.priority)] }
        return (key, "n\(l + 1) (priority \(mine.priority)) leads in term \(lr.term) while n\(best.k + 1) (priority \(best.priority)) is able to lead")
    }
}
