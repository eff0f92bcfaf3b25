import Testing
@testable import RaftCore

@Suite struct VoteTallyTests {
    /// Table test (style rule 5): voters, quorum, answers in order → result.
    @Test(arguments: [
        (3, [(0, true)], VoteResult.pending),
        (3, [(0, true), (1, true)], .won),
        (3, [(0, true), (1, false)], .pending),
        (3, [(0, true), (1, false), (2, false)], .lost),
        (1, [(0, true)], .won),
        (5, [(0, true), (1, true)], .pending),
        (5, [(0, true), (1, true), (2, true)], .won),
        (5, [(1, false), (2, false)], .pending),
        (5, [(1, false), (2, false), (3, false)], .lost),
        // A duplicated answer is not counted twice, and the first answer sticks.
        (3, [(0, true), (1, false), (1, true)], .pending),
        (3, [(1, true), (1, true)], .pending),
        (7, [(0, true), (1, true), (2, true), (3, true)], .won),
        (7, [(0, false), (1, false), (2, false), (3, false)], .lost),
    ] as [(Int, [(Int, Bool)], VoteResult)])
    func tally(voters: Int, answers: [(Int, Bool)], expected: VoteResult) {
        var t = VoteTally(voters: (0..<voters).map { NodeID(UInt32($0 + 1)) }, quorum: voters / 2 + 1)
        for (i, g) in answers { t.record(NodeID(UInt32(i + 1)), granted: g) }
        #expect(t.result == expected)
    }

    @Test func aNonVoterIsNotCounted() {
        var t = VoteTally(voters: [NodeID(1), NodeID(2), NodeID(3)], quorum: 2)
        t.record(NodeID(1), granted: true)
        t.record(NodeID(9), granted: true)
        #expect(t.result == .pending)
        t.record(NodeID(3), granted: true)
        #expect(t.result == .won)
    }

    @Test func anElectionQuorumOfEveryVoterNeedsEveryVote() {
        var t = VoteTally(voters: [NodeID(1), NodeID(2), NodeID(3)], quorum: 3)
        t.record(NodeID(1), granted: true)
        t.record(NodeID(2), granted: true)
        #expect(t.result == .pending)
        t.record(NodeID(3), granted: false)
        #expect(t.result == .lost)
    }

    @Test func quorumLargestPicksWhatAMajorityReached() {
        #expect(quorumLargest([5, 1, 3], quorum: 2) == 3)
        #expect(quorumLargest([5, 1, 3, 9, 7], quorum: 3) == 5)
        #expect(quorumLargest([4], quorum: 1) == 4)
    }
}

@Suite struct OptionsTests {
    @Test func defaultsAreValidAndLeaseIsBelowEmin() throws {
        let o = Options()
        try o.validate()
        // 150ms · 0.95/1.05 − 10ms = 125.714ms
        #expect(o.leaseDuration == Interval(nanoseconds: 125_714_285))
        #expect(o.leaseDuration < o.electionTimeoutMin)
    }

    @Test func heartbeatTooLongForLeaseIsRejectedNamingTheFix() {
        var o = Options()
        o.heartbeatInterval = .milliseconds(70)  // 2·70 + 10 ≥ 135.7
        #expect(throws: OptionsError.self) { try o.validate() }
        do { try o.validate() } catch { #expect(error.message.contains("lower the heartbeat interval")) }
    }

    @Test(arguments: ["min above max", "empty range", "drift", "negative margin", "zero heartbeat"])
    func invalidOptionsAreRejected(name: String) {
        var o = Options()
        switch name {
        case "min above max": o.electionTimeoutMax = .milliseconds(100)
        case "empty range": o.electionTimeoutMax = o.electionTimeoutMin
        case "drift": o.maxDrift = 0.6
        case "negative margin": o.leaseMargin = .milliseconds(-1)
        default: o.heartbeatInterval = .zero
        }
        #expect(throws: OptionsError.self, "\(name)") { try o.validate() }
    }

    @Test func nodeRejectsBadConfiguration() {
        let ids = [NodeID(1), NodeID(2)]
        #expect(throws: OptionsError.self) {
            _ = try RaftNode(id: NodeID(3), configuration: Configuration(voters: ids), options: Options(),
                             restoring: PersistentState(), seed: 1, now: .zero)
        }
        #expect(throws: OptionsError.self) {
            _ = try RaftNode(id: NodeID(1), configuration: Configuration(voters: ids, witnesses: Set(ids)),
                             options: Options(), restoring: PersistentState(), seed: 1, now: .zero)
        }
        let gap = PersistentState(hardState: HardState(term: 1), log: [Entry(index: 2, term: 1, payload: .noop)])
        #expect(throws: OptionsError.self) {
            _ = try RaftNode(id: NodeID(1), configuration: Configuration(voters: ids), options: Options(),
                             restoring: gap, seed: 1, now: .zero)
        }
    }
}
