// Priorities in the agent-layer simulation (issue 16, "Safety"): operators change
// members' priorities through the leader (`baton members set NAME --priority N`, a
// logged membership change) among the other faults — one member at a time, every
// member but one to priority 0 (the never-lead set-up), or all back to the default —
// and the leaders preempt (hand over to a higher priority that has been caught up and
// healthy for `--preempt-after`), or not (`--no-preempt`). AgentControlsChecker judges.
//
// Scheduled hand-overs (issue 16 item 4) are drawn from the same plan
// (AgentHandoverChaos.swift).
//
// The plan is drawn from its own generator (not the run's), so runs without priorities
// play exactly as they did before this file.
import AgentDriver
import Membership
import RaftCore

/// PriorityPlan is what a run does with priorities.
struct PriorityPlan {
    /// active: this run changes priorities (about half of the runs).
    var active = false
    /// preempt: the leaders hand over to a higher priority (`--no-preempt` when false).
    var preempt = true
    var preemptAfter = Interval.seconds(10)
    /// meanGapNs: the mean time between two operator actions on priorities.
    var meanGapNs: Int64 = 0
    var rng: SeededGenerator
    /// handovers: this run schedules hand-overs (about half of the runs).
    var handovers = false
    /// changes: the priority requests sent.
    var changes = 0

    init(seed: UInt64) {
        rng = SeededGenerator(seed: mix(seed, 0xA6E7_0016))
        active = rng.chance(ppm: 500_000)
        preempt = rng.chance(ppm: 800_000)
        preemptAfter = .milliseconds(rng.uniform(100, 2_500))
        meanGapNs = rng.uniform(300_000_000, 2_000_000_000)
        handovers = rng.chance(ppm: 500_000)
    }

    /// The payload of a `.priorityChange` event: the member's index and its priority.
    static func payload(member: Int, priority: UInt16) -> UInt64 { UInt64(member) | UInt64(priority) << 16 }
    static func decode(_ payload: UInt64) -> (member: Int, priority: UInt16) {
        (Int(payload & 0xFFFF), UInt16(truncatingIfNeeded: payload >> 16))
    }
}

extension AgentSimulation {
    /// applyPriorityPlan gives every agent the run's preemption flags (before start) and
    /// schedules the first operator actions on priorities and hand-overs.
    func applyPriorityPlan() {
        if priorities.handovers { schedule(priorities.rng.uniform(0, 2 * priorities.meanGapNs), .handoverAct, node: 0) }
        guard priorities.active else { return }
        for node in nodes {
            node.settings.preempt = priorities.preempt
            node.settings.preemptAfter = priorities.preemptAfter
        }
        schedule(priorities.rng.uniform(0, 2 * priorities.meanGapNs), .priorityAct, node: 0)
    }

    /// priorityAct is one operator action on priorities, in the safety phase.
    func priorityAct() {
        guard phase == .safety else { return }
        defer { schedule(nowNs + priorities.rng.uniform(0, 2 * priorities.meanGapNs), .priorityAct, node: 0) }
        guard let l = leaderIndex, let c = nodes[l].driver?.raft.configuration else { return }
        let members = c.members.compactMap { m in indexOf[m.id].map { (k: $0, priority: m.priority, voter: m.role == .voter) } }
        guard !members.isEmpty else { return }
        // A sequence of single changes, each sent a little after the previous one
        // committed (one change at a time: the leader refuses a second in flight).
        var sequence: [(Int, UInt16)] = []
        let roll = priorities.rng.below(100)
        switch roll {
        case 0..<55:
            let m = members[priorities.rng.below(members.count)]
            let values: [UInt16] = [0, 0, 1, 50, 100, 100, 150, 200, 300, UInt16(priorities.rng.uniform(1, 1000))]
            sequence = [(m.k, values[priorities.rng.below(values.count)])]
        case 55..<80:
            // Every member but one at priority 0: the one must lead, or nobody.
            let voters = members.filter(\.voter)
            guard let keep = voters.isEmpty ? nil : voters[priorities.rng.below(voters.count)] else { return }
            if keep.priority == 0 { sequence.append((keep.k, UInt16(priorities.rng.uniform(1, 300)))) }
            for m in members where m.k != keep.k && m.priority != 0 { sequence.append((m.k, 0)) }
        default:
            // Back to the default, raising first (a group keeps a member that may lead).
            for m in members where m.priority == 0 { sequence.append((m.k, Member.defaultPriority)) }
            for m in members where m.priority != 0 && m.priority != Member.defaultPriority { sequence.append((m.k, Member.defaultPriority)) }
        }
        let spacingNs = priorities.rng.uniform(50_000_000, 600_000_000)
        for (n, (k, p)) in sequence.enumerated() {
            schedule(nowNs + Int64(n) * spacingNs, .priorityChange, node: 0, payload: PriorityPlan.payload(member: k, priority: p))
        }
    }

    /// priorityChange sends one `baton members set NAME --priority N` to the leader
    /// (now and then to another member, which refuses it).
    func priorityChange(_ payload: UInt64) {
        guard phase == .safety, let l = leaderIndex else { return }
        let (k, p) = PriorityPlan.decode(payload)
        guard k < nodeCount else { return }
        let asked = priorities.rng.chance(ppm: 100_000) ? priorities.rng.below(nodeCount) : l
        priorities.changes += 1
        stats.priorityChanges += 1
        operatorRequest(asked, .setPriority(name: nodes[k].name, priority: p))
    }
}
