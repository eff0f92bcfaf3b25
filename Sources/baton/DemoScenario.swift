// The steps of `baton demo`, in order. Every wait goes through DemoCluster.wait, so
// agent output is printed and Ctrl-C is noticed at any step.
import Posix

#if canImport(Glibc)
import Glibc
#endif

struct DemoScenario {
    let cluster: DemoCluster
    let out: DemoPrinter
    let keepRunning: Bool

    var stepTimeoutMs: Int { DemoCommand.stepTimeoutMs }

    func run() throws {
        out.say("baton demo: 3 agents on 127.0.0.1, data and a generated 32-byte secret in \(cluster.directory)")
        for node in cluster.nodes {
            try cluster.start(node, bootstrap: true)
            out.say("started \(node.name) (pid \(node.pid ?? 0)): API 127.0.0.1:\(node.apiPort), peers 127.0.0.1:\(node.peerPort)")
        }

        // 1. Who leads: someone in office, and all three naming it.
        let startNs = Clock.boottime()
        let first = try waitForLeader(among: cluster.nodes, what: "a first leader")
        let term = try waitForAgreement(on: first)
        out.say("\(first.name) leads, term \(term): GET /leader on n1, n2 and n3 all name \(first.name); only \(first.name) answers /is-leader 200")
        out.note("first leader: \(first.name), in office \(ms(since: startNs)) ms after the agents started (they wait one minimum election timeout first)")
        try settle()

        // 2. Failover after SIGKILL.
        out.say("kill -9 \(first.name) (pid \(first.pid ?? 0))")
        let killNs = Clock.boottime()
        cluster.signal(first, SIGKILL)
        let survivors = cluster.nodes.filter { $0 !== first }
        let second = try waitForLeader(among: survivors, what: "a new leader after the kill", pollMs: DemoCommand.failoverPollMs)
        let failoverMs = ms(since: killNs)
        out.say("failover: \(second.name) answers /is-leader 200 \(failoverMs) ms after the kill of \(first.name)")
        out.note("failover after kill -9: \(failoverMs) ms (\(first.name) → \(second.name), until the new leader answered /is-leader 200)")
        let failoverTerm = try waitForAgreement(on: second, among: survivors)
        try settle()

        // 3. The killed node comes back from its data dir and follows, deposing no one.
        out.say("restarting \(first.name) from its data dir (no --bootstrap)")
        let restartNs = Clock.boottime()
        try cluster.start(first, bootstrap: false)
        guard try cluster.wait(timeoutMs: stepTimeoutMs, until: {
            DemoProbe.leader(port: first.apiPort) == DemoProbe.LeaderView(leader: second.name, term: failoverTerm, isSelf: false)
        }) else { throw DemoFailure(description: "\(first.name) did not come to follow \(second.name) in term \(failoverTerm) within \(stepTimeoutMs) ms") }
        let rejoinMs = ms(since: restartNs)
        var disturbed: String? = nil
        _ = try cluster.wait(timeoutMs: DemoCommand.rejoinWatchMs, everyMs: 20) {
            guard let view = DemoProbe.leader(port: second.apiPort), view.isSelf, view.term == failoverTerm else {
                disturbed = "\(second.name) stopped leading term \(failoverTerm)"
                return true
            }
            return false
        }
        if let disturbed { throw DemoFailure(description: "the rejoin disturbed the leader: \(disturbed)") }
        out.say("\(first.name) rejoined as a follower of \(second.name) \(rejoinMs) ms after its restart; \(second.name) kept office, term \(failoverTerm), no election")
        out.note("rejoin: \(first.name) followed \(second.name) after \(rejoinMs) ms; the leader and term did not change (watched \(DemoCommand.rejoinWatchMs) ms)")
        try settle()

        // 4. Planned hand-over: SIGTERM makes the leader leave office and hand over.
        out.say("SIGTERM to \(second.name) (pid \(second.pid ?? 0)): a planned hand-over")
        let termNs = Clock.boottime()
        cluster.signal(second, SIGTERM)
        let others = cluster.nodes.filter { $0 !== second }
        let third = try waitForLeader(among: others, what: "a successor after SIGTERM", pollMs: DemoCommand.failoverPollMs)
        let handoverMs = ms(since: termNs)
        out.say("hand-over: \(third.name) answers /is-leader 200 \(handoverMs) ms after SIGTERM to \(second.name)")
        guard try cluster.wait(timeoutMs: stepTimeoutMs, until: { !second.isRunning }) else {
            throw DemoFailure(description: "\(second.name) did not exit within \(stepTimeoutMs) ms of SIGTERM")
        }
        out.say("\(second.name) exited, \(second.lastExit.map(DemoCluster.describe) ?? "?")")
        out.note("planned hand-over on SIGTERM: \(handoverMs) ms (\(second.name) → \(third.name))")

        if keepRunning { try holdUntilInterrupted(restarting: second) }
        out.say("stopping the agents")
    }

    /// holdUntilInterrupted brings the cluster back to three and waits for Ctrl-C.
    func holdUntilInterrupted(restarting node: DemoNode) throws {
        try cluster.start(node, bootstrap: false)
        let leader = try waitForLeader(among: cluster.nodes, what: "the leader after restarting \(node.name)")
        let term = try waitForAgreement(on: leader)
        out.say("--keep-running: \(node.name) restarted and follows \(leader.name) (term \(term)); the cluster stays up until Ctrl-C. Try:")
        let a = cluster.nodes[0].apiPort
        for line in [
            "curl -si 127.0.0.1:\(a)/leader        # who leads; X-Baton-Term is the fencing token",
            "curl -si 127.0.0.1:\(a)/is-leader     # 200 only on the node in office",
            "curl -s  127.0.0.1:\(a)/health",
            "baton leader --api 127.0.0.1:\(a)",
            "kill -9 <pid of the leader>         # and watch the failover below",
        ] { out.emit("           \(line)") }
        out.emit("           pids: " + cluster.nodes.map { "\($0.name)=\($0.pid ?? 0)" }.joined(separator: " ")
                 + "; APIs: 127.0.0.1:\(cluster.nodes[0].apiPort)-\(cluster.nodes[2].apiPort)")
        // A node the user kills now is part of playing with the demo, not a failure.
        cluster.unplannedExitIsFailure = false
        while true { try cluster.pump(ms: 1_000) }
    }

    /// waitForLeader polls /is-leader of `nodes` until one answers 200.
    func waitForLeader(among nodes: [DemoNode], what: String, pollMs: Int = 10) throws -> DemoNode {
        var found: DemoNode? = nil
        guard try cluster.wait(timeoutMs: stepTimeoutMs, everyMs: pollMs, until: {
            found = nodes.first { $0.isRunning && DemoProbe.isLeader(port: $0.apiPort) }
            return found != nil
        }), let found else {
            throw DemoFailure(description: "no node answered /is-leader 200 within \(stepTimeoutMs) ms while waiting for \(what)")
        }
        return found
    }

    /// waitForAgreement waits until every running node's /leader names `leader` in one
    /// term, and returns that term.
    func waitForAgreement(on leader: DemoNode, among nodes: [DemoNode]? = nil) throws -> UInt64 {
        let asked = (nodes ?? cluster.nodes).filter(\.isRunning)
        var term: UInt64 = 0
        guard try cluster.wait(timeoutMs: stepTimeoutMs, until: {
            let views = asked.map { DemoProbe.leader(port: $0.apiPort) }
            guard let mine = views[asked.firstIndex { $0 === leader }!], mine.isSelf else { return false }
            term = mine.term
            return views.allSatisfy { $0?.leader == leader.name && $0?.term == mine.term }
        }) else {
            throw DemoFailure(description: "the nodes did not agree on \(leader.name) as leader within \(stepTimeoutMs) ms")
        }
        return term
    }

    func settle() throws { _ = try cluster.wait(timeoutMs: DemoCommand.settleMs) { false } }

    func ms(since ns: UInt64) -> Int { Int((Clock.boottime() - ns) / 1_000_000) }
}
