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
        // Durable state is applied at once: the core hears so before anything else.
        if let id = r.persistID { apply(i, nodes[i].handle(.persisted(persistID: id), now: now)) }
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
        #expect(!c.offices.contains { if case .enter(let t, _, _, _) = $0.change { return $0.node == c.nodes[old].id && t == term && $0.at > demoteDone } else { return false } })
    }

    @Test func heldBackNodesNeitherCampaignNorTakeTransfersButStillVote() throws {
        var c = try TinyCluster(count: 3)
        // n1 and n2 are held back (start-up hook running, failing check): only n3 may lead.
        for i in 0..<2 { c.apply(i, c.nodes[i].handle(.setCampaignAllowed(false), now: c.now)) }
        #expect(c.nodes[0].nextDeadline == .distantFuture, "a held-back node wants no election timer")
        c.run(until: Instant.zero + .seconds(2))
        #expect(c.inOffice() == [2], "the one free node wins with the held-back nodes' votes")
        // A hand-over aimed at a held-back node is refused and changes nothing: the
        // held nodes said so in their append responses.
        let term = c.nodes[2].term
        c.apply(2, c.nodes[2].handle(.transferLeadership(to: NodeID(1)), now: c.now))
        #expect(c.inOffice() == [2] && c.nodes[2].term == term && !c.nodes[2].isTransferring)
        #expect(c.nodes[2].progress(of: NodeID(1))?.canLead == false)
        // So is an operator's resignation when nobody can take over.
        c.apply(2, c.nodes[2].handle(.transferLeadership(to: nil), now: c.now))
        #expect(c.inOffice() == [2] && !c.nodes[2].isTransferring)
        // A failed check must leave office all the same: with nobody free, the leader
        // steps down and, as the only candidate, wins again in a later term.
        c.apply(2, c.nodes[2].handle(.transferLeadership(to: nil, reason: .checkFailed), now: c.now))
        #expect(c.inOffice().isEmpty)
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

    /// The leader named in `TinyCluster` after an election, with every follower's
    /// latest append response delivered.
    private func settledLeader(_ c: inout TinyCluster) throws -> Int {
        c.run(until: c.now + .seconds(1))
        return try #require(c.inOffice().first)
    }

    @Test func handOverSkipsAPeerThatIsHeldBack() throws {
        // Whichever follower would be picked first, hold that one back: the hand-over
        // must go to the other (a restarted node in its start-up hook ignores TimeoutNow).
        for heldFirst in [true, false] {
            var c = try TinyCluster(count: 3)
            let old = try settledLeader(&c)
            let followers = c.nodes.indices.filter { $0 != old }
            let held = heldFirst ? followers[0] : followers[1]
            let free = heldFirst ? followers[1] : followers[0]
            c.apply(held, c.nodes[held].handle(.setCampaignAllowed(false), now: c.now))
            c.run(until: c.now + .milliseconds(120))  // a heartbeat round carries the news
            #expect(c.nodes[old].progress(of: c.nodes[held].id)?.canLead == false)
            #expect(c.nodes[old].progress(of: c.nodes[free].id)?.canLead == true)
            let term = c.nodes[old].term
            c.apply(old, c.nodes[old].handle(.shutdown, now: c.now))
            c.apply(old, c.nodes[old].handle(.demoteFinished(term: term), now: c.now))
            let handedAt = c.now
            c.run(until: c.now + .milliseconds(20))
            #expect(c.inOffice() == [free], "held first: \(heldFirst)")
            #expect(c.nodes[free].term == term + 1)
            let entered = try #require(c.offices.last { $0.node == c.nodes[free].id })
            #expect(entered.at - handedAt < .milliseconds(10), "by transfer, not by an election timeout")
        }
    }

    @Test func handOverSwitchesTargetWhenTheChosenOneStartsHoldingBack() throws {
        var c = try TinyCluster(count: 3)
        let old = try settledLeader(&c)
        let term = c.nodes[old].term
        // The leader leaves office and its demote hook runs...
        c.apply(old, c.nodes[old].handle(.transferLeadership(to: nil), now: c.now))
        #expect(c.nodes[old].isTransferring)
        // ...meanwhile both followers report in; then one of them is held back.
        let followers = c.nodes.indices.filter { $0 != old }
        for f in followers { c.apply(f, c.nodes[f].handle(.setCampaignAllowed(false), now: c.now)) }
        c.run(until: c.now + .milliseconds(120))
        let free = followers[1]
        c.apply(free, c.nodes[free].handle(.setCampaignAllowed(true), now: c.now))
        c.run(until: c.now + .milliseconds(60))
        c.apply(old, c.nodes[old].handle(.demoteFinished(term: term), now: c.now))
        let handedAt = c.now
        c.run(until: c.now + .milliseconds(20))
        #expect(c.inOffice() == [free])
        let entered = try #require(c.offices.last { $0.node == c.nodes[free].id })
        #expect(entered.at - handedAt < .milliseconds(10), "TimeoutNow went to the free follower")
    }

    @Test func aWitnessSaysItCannotLeadSoHandOversPassItBy() throws {
        // Each agent's Configuration lists only itself as a witness (Agent.swift), so
        // the leader learns who is one from the witness's append responses.
        var c = try TinyCluster(count: 3)
        c.nodes[0] = try RaftNode(id: NodeID(1), configuration: Configuration(voters: [NodeID(1), NodeID(2), NodeID(3)], witnesses: [NodeID(1)]),
                                  options: Options(), restoring: PersistentState(), seed: 1, now: .zero)
        let old = try settledLeader(&c)
        #expect(old != 0)
        let other = old == 1 ? 2 : 1
        #expect(c.nodes[old].progress(of: NodeID(1))?.canLead == false)
        // Named, the witness is refused; unnamed, the other voter takes over.
        c.apply(old, c.nodes[old].handle(.transferLeadership(to: NodeID(1)), now: c.now))
        #expect(c.inOffice() == [old])
        let term = c.nodes[old].term
        c.apply(old, c.nodes[old].handle(.transferLeadership(to: nil), now: c.now))
        c.apply(old, c.nodes[old].handle(.demoteFinished(term: term), now: c.now))
        c.run(until: c.now + .milliseconds(20))
        #expect(c.inOffice() == [other])
    }
}

/// The core says what became of a hand-over and why a node took office, so the driver
/// never infers either from state after the step (style rule 23).
@Suite struct TransferOutcomeTests {
    @Test func aFollowerRefusesAsNotLeaderAndChangesNothing() throws {
        var c = try TinyCluster(count: 3)
        c.run(until: Instant.zero + .seconds(2))
        let leader = try #require(c.inOffice().first)
        let follower = (leader + 1) % 3
        let before = c.nodes[follower].term
        let r = c.nodes[follower].handle(.transferLeadership(to: nil), now: c.now)
        #expect(r.transferOutcome == .refused(.notLeader))
        #expect(r.officeChanges.isEmpty && r.messages.isEmpty && c.nodes[follower].term == before)
    }

    @Test func namingThisNodeOrAStrangerIsRefused() throws {
        var c = try TinyCluster(count: 3)
        c.run(until: Instant.zero + .seconds(2))
        let leader = try #require(c.inOffice().first)
        let me = c.nodes[leader].id
        #expect(c.nodes[leader].handle(.transferLeadership(to: me), now: c.now).transferOutcome == .refused(.targetNotEligible))
        #expect(c.nodes[leader].handle(.transferLeadership(to: NodeID(99)), now: c.now).transferOutcome == .refused(.targetNotEligible))
        #expect(c.nodes[leader].isInOffice(at: c.now))
    }

    @Test func aStartedTransferNamesItsTargetAndTheSuccessorEntersByTransfer() throws {
        var c = try TinyCluster(count: 3)
        c.run(until: Instant.zero + .seconds(2))
        let leader = try #require(c.inOffice().first)
        let oldID = c.nodes[leader].id
        let r = c.nodes[leader].handle(.transferLeadership(to: nil), now: c.now)
        guard case .started(let target)? = r.transferOutcome else { Issue.record("no start: \(String(describing: r.transferOutcome))"); return }
        #expect(r.officeChanges == [.leave(term: c.nodes[leader].term, reason: .transfer)])
        c.apply(leader, r)
        let t = c.nodes[leader].term
        c.apply(leader, c.nodes[leader].handle(.demoteFinished(term: t), now: c.now))
        #expect(c.nodes[leader].handle(.transferLeadership(to: nil), now: c.now).transferOutcome == .refused(.notLeader))
        c.run(until: c.now + .seconds(1))
        let entered = c.offices.compactMap { o -> (NodeID, EnterReason, NodeID?)? in
            if case .enter(let term, _, let reason, let previous) = o.change, term > t { return (o.node, reason, previous) }
            return nil
        }
        #expect(entered.first?.0 == target)
        #expect(entered.first?.1 == .transfer)
        #expect(entered.first?.2 == oldID)
    }

    @Test func theFirstOfficeIsAnElectionWithoutAPreviousLeader() throws {
        var c = try TinyCluster(count: 3)
        c.run(until: Instant.zero + .seconds(2))
        guard case .enter(_, _, let reason, let previous)? = c.offices.first?.change else { Issue.record("no office"); return }
        #expect(reason == .election)
        #expect(previous == nil)
    }
}
