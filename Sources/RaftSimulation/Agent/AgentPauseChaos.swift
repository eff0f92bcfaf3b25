// The maintenance pause in the agent-layer simulation (issue 16): operators' POST /pause
// and POST /resume to random members, among the other faults; AgentChecker.observePause
// checks that a paused member starts no election of its own.
import AgentDriver
import RaftCore

extension AgentSimulation {
    func groupPause(_ i: Int, ms: UInt64) {
        let node = nodes[i]
        let request = nextRequest
        nextRequest += 1
        stats.groupPauses += 1
        checker.asked(node: i, request: request, dueNs: nowNs + node.settings.membershipChangeWait.nanoseconds + 1_000_000_000)
        note { "\(node.name) PAUSE req \(request) for \(ms) ms" }
        step(i, .pause(request, duration: .milliseconds(Int64(ms)), reason: "simulated maintenance", client: "simulated operator"))
    }

    func groupResume(_ i: Int) {
        let node = nodes[i]
        let request = nextRequest
        nextRequest += 1
        checker.asked(node: i, request: request, dueNs: nowNs + node.settings.membershipChangeWait.nanoseconds + 1_000_000_000)
        checker.resumeAskedNs[i] = nowNs
        note { "\(node.name) RESUME req \(request)" }
        step(i, .resume(request, client: "simulated operator"))
    }
}
