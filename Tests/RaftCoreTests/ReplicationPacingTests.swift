import Testing
@testable import RaftCore

/// ReplicationPacingTests: a leader sends a follower no more than what a reply calls for.
/// A reply that tells the leader nothing new (a refusal at the same place, a repeated
/// acknowledgement) must not make it send again at once: with a follower that answers
/// instantly, every such resend is answered by another such reply, and the two nodes
/// ping-pong at network speed for as long as the state lasts (found by baton-sim
/// --nodes 3 --seed 16627: a hand-over to a follower waiting for a snapshot flooded the
/// network past its 262144 messages-in-flight limit).
@Suite struct ReplicationPacingTests {
    static func isInstallSnapshot(_ m: Message) -> Bool {
        if case .installSnapshot = m.body { return true } else { return false }
    }

    /// A leader hands over to a follower whose log the leader compacted past, while the
    /// snapshot it sent that follower was lost and its resend is paced (once per
    /// election timeout). Until then the follower refuses every heartbeat at the
    /// snapshot's index; the leader must wait for the next heartbeat, not answer each
    /// refusal with another append.
    @Test func aHandOverToAFollowerAwaitingAPacedSnapshotSendsItOneAppendPerHeartbeat() throws {
        var c = try MemberCluster(founding: MemberCluster.voters(3))
        c.run(for: .seconds(1))
        let l = try #require(c.leader())
        let f = (l + 1) % 3
        let (leaderID, targetID) = (NodeID(UInt32(l + 1)), NodeID(UInt32(f + 1)))
        c.cut = [f]
        for k in 0..<20 { c.step(l, .propose([UInt8(k)])); c.run(for: .milliseconds(5)) }
        c.step(l, .compact(upTo: c.nodes[l]!.appliedIndex, appState: Array("app".utf8)))
        let snapshotIndex = try #require(c.nodes[l]!.snapshot?.index)
        #expect(snapshotIndex > c.nodes[f]!.lastLogIndex, "the follower now needs the snapshot")
        // The next heartbeat sends the snapshot, lost on the cut link.
        let sentBefore = c.sent.count
        c.run(for: .milliseconds(60))
        #expect(c.sent[sentBefore...].contains { $0.from == leaderID && $0.to == targetID && Self.isInstallSnapshot($0) })
        c.cut = []

        let term = c.nodes[l]!.term
        c.step(l, .transferLeadership(to: targetID))
        c.step(l, .demoteFinished(term: term))
        #expect(c.nodes[l]!.isTransferring)
        let start = c.sent.count
        let window = Interval.milliseconds(100)  // well inside the snapshot's pacing (Emax)
        c.run(for: window)
        let toTarget = c.sent[start...].filter { $0.from == leaderID && $0.to == targetID }
        // One append when the hand-over starts, then one per heartbeat interval (the
        // Options default, 50 ms): at most 1 + 100/50 + 1 for a heartbeat at the edge.
        // Resending on every refusal sent ~50 in this window (1 ms each way) and more
        // with every other follower's acknowledgement.
        #expect(toTarget.count <= 4, "\(toTarget.count) messages to the hand-over target in \(window)")
        #expect(!toTarget.contains { Self.isInstallSnapshot($0) }, "the snapshot stays paced")

        // The hand-over either completes after the snapshot or times out into an
        // ordinary election: either way the group ends with one leader in office.
        c.run(for: .seconds(2))
        #expect(c.inOffice().count == 1)
        #expect(c.nodes[f]!.snapshot?.index ?? 0 >= snapshotIndex, "the follower got the snapshot in the end")
    }

    /// A repeated acknowledgement (a duplicated message, or the answer to a duplicated
    /// append) moves nothing forward: the first one already sent the follower what
    /// follows, so the second sends nothing. Resending on both doubled the appends in
    /// flight to a lagging follower with each duplicate until it caught up.
    @Test func aRepeatedAcknowledgementSendsNothingNew() throws {
        var c = try MemberCluster(founding: MemberCluster.voters(3))
        c.run(for: .seconds(1))
        let l = try #require(c.leader())
        let f = (l + 1) % 3
        let (leaderID, followerID) = (NodeID(UInt32(l + 1)), NodeID(UInt32(f + 1)))
        c.cut = [f]
        for k in 0..<5 { c.step(l, .propose([UInt8(k)])); c.run(for: .milliseconds(5)) }
        c.cut = []
        let match = try #require(c.nodes[l]!.progress(of: followerID)).matchIndex
        #expect(match + 2 <= c.nodes[l]!.lastLogIndex, "the follower lags by more than one entry")
        // The follower acknowledges one more entry, twice.
        let ack = Message(from: followerID, to: leaderID, term: c.nodes[l]!.term,
                          body: .appendResponse(success: true, matchIndex: match + 1, hintIndex: 0,
                                                echoedSendTime: .distantPast, canLead: true),
                          incarnation: c.incarnations[f])
        let first = c.nodes[l]!.handle(.message(ack), now: c.now)
        #expect(first.messages.filter { $0.to == followerID }.count == 1, "the first acknowledgement sends what follows")
        let second = c.nodes[l]!.handle(.message(ack), now: c.now)
        #expect(second.messages.filter { $0.to == followerID }.isEmpty, "the repeat sends nothing: \(second.messages)")
    }

    /// A refusal that hints no earlier place than the leader already probes sends
    /// nothing either (the ordinary replication counterpart of the hand-over case).
    @Test func aRepeatedRefusalSendsNothingNew() throws {
        var c = try MemberCluster(founding: MemberCluster.voters(3))
        c.run(for: .seconds(1))
        let l = try #require(c.leader())
        let f = (l + 1) % 3
        let (leaderID, followerID) = (NodeID(UInt32(l + 1)), NodeID(UInt32(f + 1)))
        let next = c.nodes[l]!.lastLogIndex + 1
        let refusal = Message(from: followerID, to: leaderID, term: c.nodes[l]!.term,
                              body: .appendResponse(success: false, matchIndex: 0, hintIndex: next,
                                                    echoedSendTime: .distantPast, canLead: true),
                              incarnation: c.incarnations[f])
        for _ in 0..<3 {
            let r = c.nodes[l]!.handle(.message(refusal), now: c.now)
            #expect(r.messages.filter { $0.to == followerID }.isEmpty)
        }
    }
}
