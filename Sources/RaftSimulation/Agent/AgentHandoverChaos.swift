// Scheduled hand-overs in the agent-layer simulation (issue 16 item 4, "Safety"):
// operators schedule `baton resign --to NAME --in D` (POST /handover) to any member —
// one that can lead, one with priority 0, the leader itself — and cancel it now and
// then (DELETE /handover), among the other faults. The driver carries a schedule out at
// its moment only if the target can lead then; AgentControlsChecker judges the
// hand-over it starts (SH, and P2 while paused).
//
// Drawn from the priority plan's generator (its own, not the run's), so runs without
// priorities or hand-overs play as before.
import AgentDriver
import RaftCore

extension AgentSimulation {
    /// handoverAct is one operator action on scheduled hand-overs, in the safety phase.
    func handoverAct() {
        guard phase == .safety else { return }
        defer { schedule(nowNs + priorities.rng.uniform(0, 2 * priorities.meanGapNs), .handoverAct, node: 0) }
        guard let l = leaderIndex else { return }
        // Now and then the operator asks a member that is not the leader (refused).
        let asked = priorities.rng.chance(ppm: 100_000) ? priorities.rng.below(nodeCount) : l
        let node = nodes[asked]
        guard node.isUp, !node.paused else { return }
        let request = nextRequest
        nextRequest += 1
        checker.asked(node: asked, request: request, dueNs: nowNs + node.settings.membershipChangeWait.nanoseconds + 1_000_000_000)
        stats.scheduledHandovers += 1
        if priorities.rng.chance(ppm: 200_000) {
            note { "\(node.name) HANDOVER CANCEL req \(request)" }
            step(asked, .cancelHandover(request, client: "simulated operator"))
        } else {
            let target = nodes[priorities.rng.below(nodeCount)].name
            let ms = priorities.rng.uniform(20, 3_000)
            note { "\(node.name) HANDOVER to \(target) in \(ms) ms req \(request)" }
            step(asked, .scheduleHandover(request, to: target, at: .after(.milliseconds(ms)), client: "simulated operator"))
        }
    }
}
