import Testing
@testable import RaftCore

/// The group-wide pause (issue 16) as the core sees it: a paused node starts no
/// election of its own, but a planned hand-over (TimeoutNow) still moves the office.
@Suite struct ElectionsPausedTests {
    private func pauseAll(_ c: inout TinyCluster, _ paused: Bool) {
        for i in c.nodes.indices where !c.down.contains(i) {
            c.apply(i, c.nodes[i].handle(.setElectionsPaused(paused), now: c.now))
        }
    }

    /// Every office entered after `since`.
    private func entries(_ c: TinyCluster, after since: Instant) -> [NodeID] {
        c.offices.filter { if case .enter = $0.change { return $0.at > since } else { return false } }.map(\.node)
    }

    @Test func aPausedGroupThatLostItsLeaderElectsNobodyUntilResumed() throws {
        var c = try TinyCluster(count: 3)
        c.run(until: Instant.zero + .seconds(1))
        let old = try #require(c.inOffice().first)
        pauseAll(&c, true)
        #expect(c.nodes.allSatisfy { $0.electionsPaused })
        // The leader keeps office while paused.
        c.run(until: c.now + .seconds(2))
        #expect(c.inOffice() == [old])
        // It dies; the connection hint comes too: nobody campaigns for a long time.
        c.down.insert(old)
        let crashAt = c.now
        for i in c.nodes.indices where i != old { c.apply(i, c.nodes[i].handle(.leaderConnectionLost, now: c.now)) }
        for i in c.nodes.indices where i != old { #expect(c.nodes[i].nextDeadline == .distantFuture) }
        c.run(until: crashAt + .seconds(30))
        #expect(c.inOffice().isEmpty)
        #expect(entries(c, after: crashAt).isEmpty)
        for i in c.nodes.indices where i != old { #expect(c.nodes[i].role == .follower) }
        // Resumed: a leader within an election timeout and a round trip or two.
        let resumedAt = c.now
        pauseAll(&c, false)
        c.run(until: resumedAt + .milliseconds(400))
        #expect(c.inOffice().count == 1)
        #expect(c.inOffice().first != old)
    }

    @Test func aPlannedHandOverStillWorksWhilePaused() throws {
        var c = try TinyCluster(count: 3)
        c.run(until: Instant.zero + .seconds(1))
        let old = try #require(c.inOffice().first)
        let term = c.nodes[old].term
        pauseAll(&c, true)
        c.apply(old, c.nodes[old].handle(.transferLeadership(to: nil), now: c.now))
        #expect(c.nodes[old].isTransferring, "a paused group's followers still say they can take over")
        c.apply(old, c.nodes[old].handle(.demoteFinished(term: term), now: c.now))
        c.run(until: c.now + .milliseconds(50))
        let new = try #require(c.inOffice().first)
        #expect(new != old && c.nodes[new].term == term + 1)
        // And then the group stays as it is.
        let settled = c.now
        c.run(until: c.now + .seconds(5))
        #expect(c.inOffice() == [new] && entries(c, after: settled).isEmpty)
    }

    @Test func aPreCandidateAbandonsItsCampaignWhenPaused() throws {
        var c = try TinyCluster(count: 3)
        // n1 campaigns first (its deadline is the earliest) but is paused as it starts.
        c.down = [1, 2]
        c.run(until: Instant.zero + .milliseconds(400))
        #expect(c.nodes[0].role == .preCandidate)
        c.apply(0, c.nodes[0].handle(.setElectionsPaused(true), now: c.now))
        #expect(c.nodes[0].role == .follower)
        c.down = []
        c.inFlight.removeAll()
        pauseAll(&c, true)
        c.run(until: c.now + .seconds(10))
        #expect(c.inOffice().isEmpty)
        #expect(c.nodes.allSatisfy { $0.role == .follower && $0.term == 0 })
    }
}
