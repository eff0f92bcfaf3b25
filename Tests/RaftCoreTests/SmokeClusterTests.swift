import Testing
@testable import RaftCore

/// A minimal lossless cluster: every message is delivered after `latency`, durable
/// state is applied at once. Enough to check the core end to end; the simulator does
/// the adversarial work.
struct TinyCluster {
    var nodes: [RaftNode]
    var now = Instant.zero
    var inFlight: [(at: Instant, m: Message)] = []
    var offices: [(node: NodeID, change: OfficeChange, at: Instant)] = []
    var down: Set<Int> = []
    let latency = Interval.milliseconds(1)

    init(count: Int, witnesses: Set<NodeID> = [], options: Options = Options()) throws {
        let ids = (1...count).map { NodeID(UInt32($0)) }
        let config = Configuration(voters: ids, witnesses: witnesses)
        nodes = try ids.map { try RaftNode(id: $0, configuration: config, options: options,
                                          restoring: PersistentState(), seed: UInt64($0.rawValue), now: .zero) }
    }

    mutating func apply(_ i: Int, _ r: Ready) {
        for c in r.officeChanges { offices.append((nodes[i].id, c, now)) }
        for m in r.messages { inFlight.append((now + latency, m)) }
    }

    /// Runs until `until`, jumping from event to event.
    mutating func run(until end: Instant) {
        while true {
            let nextMsg = inFlight.map(\.at).min() ?? .distantFuture
            var nextTick = Instant.distantFuture
            var who = -1
            for (i, n) in nodes.enumerated() where !down.contains(i) && n.nextDeadline < nextTick {
                nextTick = n.nextDeadline; who = i
            }
            let t = min(nextMsg, nextTick)
            if t > end { now = end; return }
            now = max(now, t)
            if nextMsg <= nextTick {
                let k = inFlight.firstIndex { $0.at == nextMsg }!
                let m = inFlight.remove(at: k).m
                let to = Int(m.to.rawValue) - 1
                if down.contains(to) { continue }
                let r = nodes[to].handle(.message(m), now: now)
                apply(to, r)
            } else {
                let r = nodes[who].handle(.tick, now: now)
                apply(who, r)
            }
        }
    }

    func inOffice() -> [Int] { nodes.indices.filter { !down.contains($0) && nodes[$0].isInOffice(at: now) } }
}

@Suite struct SmokeClusterTests {
    @Test(arguments: [1, 3, 5, 7])
    func electsExactlyOneLeaderInOffice(size: Int) throws {
        var c = try TinyCluster(count: size)
        c.run(until: Instant.zero + .seconds(2))
        #expect(c.inOffice().count == 1)
        let leader = c.inOffice()[0]
        #expect(c.nodes[leader].role == .leader)
        // Followers agree on the leader and term.
        for n in c.nodes { #expect(n.term == c.nodes[leader].term); #expect(n.leader == c.nodes[leader].id) }
        // The no-op of the leader's term is committed everywhere.
        for n in c.nodes { #expect(n.commitIndex == c.nodes[leader].lastLogIndex) }
    }

    @Test func failoverAfterLeaderCrashWithEarlyCampaign() throws {
        var c = try TinyCluster(count: 3)
        c.run(until: Instant.zero + .seconds(1))
        let old = try #require(c.inOffice().first)
        let oldTerm = c.nodes[old].term
        c.down.insert(old)
        let crashAt = c.now
        for i in c.nodes.indices where i != old { c.apply(i, c.nodes[i].handle(.leaderConnectionLost, now: c.now)) }
        c.run(until: crashAt + .seconds(1))
        let new = try #require(c.inOffice().first)
        #expect(new != old)
        #expect(c.nodes[new].term > oldTerm)
        let entered = try #require(c.offices.last { $0.node == c.nodes[new].id })
        // Early campaign: within Emin + a few round trips, not a whole random timeout.
        #expect(entered.at - crashAt < .milliseconds(175))
    }

    @Test func witnessNeverLeads() throws {
        var c = try TinyCluster(count: 3, witnesses: [NodeID(1), NodeID(2)])
        c.run(until: Instant.zero + .seconds(3))
        #expect(c.inOffice() == [2])
        // Crash the only non-witness: nobody may take office.
        c.down.insert(2)
        c.run(until: c.now + .seconds(3))
        #expect(c.inOffice().isEmpty)
        for n in c.nodes.prefix(2) { #expect(n.role == .follower) }
    }

    @Test func plannedTransferWaitsForDemoteAndHandsOver() throws {
        var c = try TinyCluster(count: 3)
        c.run(until: Instant.zero + .seconds(1))
        let old = try #require(c.inOffice().first)
        let term = c.nodes[old].term
        c.apply(old, c.nodes[old].handle(.transferLeadership(to: nil), now: c.now))
        #expect(c.inOffice().isEmpty, "the old leader leaves office at once")
        c.run(until: c.now + .milliseconds(100))
        #expect(c.inOffice().isEmpty, "no TimeoutNow before the demote hook finished")
        let demoteDone = c.now
        c.apply(old, c.nodes[old].handle(.demoteFinished(term: term), now: c.now))
        c.run(until: c.now + .milliseconds(20))
        let new = try #require(c.inOffice().first)
        #expect(new != old)
        #expect(c.nodes[new].term == term + 1)
        let entered = try #require(c.offices.last { $0.node == c.nodes[new].id })
        #expect(entered.at - demoteDone < .milliseconds(10), "hand-over takes round trips, not a timeout")
        // The old leader never re-enters office in its term.
        #expect(!c.offices.contains { if case .enter(let t, _) = $0.change { return $0.node == c.nodes[old].id && t == term && $0.at > demoteDone } else { return false } })
    }

    @Test func heldBackNodesNeitherCampaignNorTakeTransfersButStillVote() throws {
        var c = try TinyCluster(count: 3)
        // n1 and n2 are held back (start-up hook running, failing check): only n3 may lead.
        for i in 0..<2 { c.apply(i, c.nodes[i].handle(.setCampaignAllowed(false), now: c.now)) }
        #expect(c.nodes[0].nextDeadline == .distantFuture, "a held-back node wants no election timer")
        c.run(until: Instant.zero + .seconds(2))
        #expect(c.inOffice() == [2], "the one free node wins with the held-back nodes' votes")
        // A transfer aimed at a held-back node does not hand over to it: the leader gives
        // up after its deadline and, with nobody else free, wins again in a later term.
        let term = c.nodes[2].term
        c.apply(2, c.nodes[2].handle(.transferLeadership(to: NodeID(1), reason: .checkFailed), now: c.now))
        c.apply(2, c.nodes[2].handle(.demoteFinished(term: term), now: c.now))
        c.run(until: c.now + .seconds(2))
        #expect(c.inOffice() == [2])
        #expect(c.nodes[2].term > term)
        #expect(c.nodes[0].role == .follower && c.nodes[1].role == .follower)
        // Released, n1 campaigns again once n3 is gone.
        c.apply(0, c.nodes[0].handle(.setCampaignAllowed(true), now: c.now))
        c.down.insert(2)
        c.run(until: c.now + .seconds(2))
        #expect(c.inOffice() == [0])
    }
}
