@testable import AgentDriver
import RaftCore
import Testing

/// The scheduled hand-over through the driver (issue 16 item 4): three drivers in the
/// scenario harness, time moved in 20 ms steps with every node ticked. The harness has
/// no wall clock, so the moment is the delay from when each member applied the entry.
@Suite struct ScheduledHandoverDriverTests {
    @discardableResult
    private func settle(_ h: DriverHarness, _ d: Interval, partitioned: Bool = false) throws -> [String] {
        var lines: [String] = []
        var left = d
        while left > .zero {
            lines += try h.run("wait 20ms") + h.run("tick")
            if partitioned { h.mailbox.removeAll() } else { lines += try h.run("stabilize") }
            left = left - .milliseconds(20)
        }
        return lines
    }

    private func leader(_ h: DriverHarness) -> Int? {
        h.nodes.indices.first { !h.nodes[$0].exited && h.nodes[$0].driver.raft.role == .leader && h.nodes[$0].driver.raft.office != nil }
    }

    private func group() throws -> (DriverHarness, Int) {
        let h = DriverHarness()
        _ = try h.run("nodes 3 hooks=promote,demote")
        _ = try h.run("hooks auto")
        _ = try h.run("start")
        try settle(h, .seconds(2))
        return (h, try #require(leader(h)))
    }

    private func ends(_ h: DriverHarness, _ node: Int) -> [HandoverEndRecord] {
        h.nodes[node].driver.replicated.history.compactMap { if case .handoverEnded(let e) = $0.record { e } else { nil } }
    }

    private func answers(_ lines: [String], status: Int) -> [String] {
        lines.filter { $0.contains("answer req=") && $0.contains(" \(status) ") }
    }

    @Test func itHappensAtItsMomentDemoteBeforePromote() throws {
        let (h, l) = try group()
        let t = (l + 1) % 3
        var out = try h.run("handover \(l + 1) to=n\(t + 1) in=2s") + h.run("stabilize")
        #expect(answers(out, status: 200).count == 1, "\(out)")
        try settle(h, .milliseconds(200))
        for n in h.nodes { #expect(n.driver.view.scheduledHandover?.target == "n\(t + 1)") }
        try settle(h, .milliseconds(1_600))
        #expect(leader(h) == l, "not before its moment")
        out = try settle(h, .seconds(1))
        #expect(leader(h) == t, "\(out)")
        // The old leader's demote step started (and, hooks being auto, ended) before
        // the target's promote step started.
        let demote = try #require(out.firstIndex { $0.contains("n\(l + 1)") && $0.contains("hook start") && $0.contains("on-demote") })
        let promote = try #require(out.firstIndex { $0.contains("n\(t + 1)") && $0.contains("hook start") && $0.contains("on-promote") })
        #expect(demote < promote)
        try settle(h, .milliseconds(200))
        for i in h.nodes.indices {
            #expect(ends(h, i).map(\.outcome) == [.carriedOut])
            #expect(h.nodes[i].driver.view.scheduledHandover == nil)
        }
    }

    @Test func badOrConflictingRequestsAreRefusedAndChangeNothing() throws {
        let (h, l) = try group()
        let f = (l + 1) % 3
        var out = try h.run("handover \(l + 1) to=n\(f + 1) in=0s") + h.run("handover \(l + 1) to=n\(f + 1) in=86401s")
            + h.run("handover \(l + 1) to=n9 in=2s") + h.run("handover \(l + 1) to=n\(l + 1) in=2s")
        #expect(answers(out, status: 400).count == 4, "\(out)")
        out = try h.run("handover-cancel \(l + 1)")
        #expect(out.contains { $0.contains(" 409 ") && $0.contains("no hand-over is scheduled") }, "\(out)")
        out = try h.run("handover \(f + 1) to=n\(f + 1) in=2s")
        #expect(answers(out, status: 409).count == 1, "a follower names the leader: \(out)")
        out = try h.run("handover \(l + 1) to=n\(f + 1) in=2s") + h.run("stabilize") + h.run("handover \(l + 1) to=n\(f + 1) in=3s")
        #expect(answers(out, status: 200).count == 1 && out.contains { $0.contains(" 409 ") && $0.contains("already scheduled") }, "\(out)")
        // Cancelled: nothing moves at the moment.
        out = try h.run("handover-cancel \(l + 1)") + h.run("stabilize")
        #expect(answers(out, status: 200).count == 1, "\(out)")
        let term = h.nodes[l].driver.raft.term
        try settle(h, .seconds(3))
        #expect(leader(h) == l && h.nodes[l].driver.raft.term == term)
        for i in h.nodes.indices { #expect(ends(h, i).map(\.outcome) == [.cancelled]) }
    }

    @Test func scheduleCancelScheduleBeforeAnyCommitsIsOneScheduleInForce() throws {
        let (h, l) = try group()
        let f = (l + 1) % 3
        // Nothing is delivered between the three: each sees the others only in the
        // leader's uncommitted tail.
        let out = try h.run("handover \(l + 1) to=n\(f + 1) in=2s") + h.run("handover-cancel \(l + 1)")
            + h.run("handover \(l + 1) to=n\(f + 1) in=5s") + h.run("stabilize")
        #expect(answers(out, status: 200).count == 3, "\(out)")
        try settle(h, .milliseconds(200))
        for n in h.nodes { #expect(n.driver.view.scheduledHandover?.index == h.nodes[l].driver.replicated.handover?.index) }
        #expect(h.nodes[l].driver.replicated.handover?.record.delay == .seconds(5))
    }

    @Test func aTargetThatStoppedAnsweringIsWaitedForThenDropped() throws {
        let (h, l) = try group()
        let t = (l + 1) % 3
        _ = try h.run("handover \(l + 1) to=n\(t + 1) in=1s") + h.run("stabilize")
        try settle(h, .milliseconds(200))
        _ = try h.run("kill \(t + 1)")
        try settle(h, .seconds(2))
        #expect(leader(h) == l)
        let end = try #require(ends(h, l).first)
        #expect(end.outcome == .dropped && end.reason.contains("has not answered"), "\(end)")
    }

    @Test func aNewLeaderCarriesOutItsPredecessorsSchedule() throws {
        let (h, l) = try group()
        let t = (l + 1) % 3
        let other = (l + 2) % 3
        _ = try h.run("handover \(l + 1) to=n\(t + 1) in=3s") + h.run("stabilize")
        try settle(h, .milliseconds(300))
        _ = try h.run("kill \(l + 1)")
        try settle(h, .seconds(1))
        let interim = try #require(leader(h))
        try settle(h, .seconds(3))
        #expect(leader(h) == t)
        let end = try #require(ends(h, other).first)
        if interim == t {
            #expect(end.outcome == .dropped && end.reason == "n\(t + 1) already leads", "\(end)")
        } else {
            #expect(end.outcome == .carriedOut, "\(end)")
        }
    }

    @Test func aMomentMissedByMoreThanTheLimitIsDropped() throws {
        let (h, l) = try group()
        let t = (l + 1) % 3
        _ = try h.run("handover \(l + 1) to=n\(t + 1) in=2s") + h.run("stabilize")
        try settle(h, .milliseconds(200))
        // Every message is lost for 14 s: the leader steps down long before the moment
        // and nobody can be elected until after the limit (10 s) past it.
        try settle(h, .seconds(14), partitioned: true)
        #expect(leader(h) == nil)
        try settle(h, .seconds(2))
        let now = try #require(leader(h))
        let end = try #require(ends(h, now).first)
        #expect(end.outcome == .dropped && end.reason.hasPrefix("missed"), "\(end)")
    }

    @Test func recordsSurviveEncodingAndSnapshots() throws {
        let s = ScheduledHandoverRecord(target: "n2", delay: .seconds(90), atWallMs: 1_796_670_000_000, requestedWallMs: 1_796_669_910_000, by: "127.0.0.1:5")
        let e = HandoverEndRecord(scheduleIndex: 7, outcome: .dropped, target: "n2", reason: "the group is paused", by: "", wallMs: 3)
        #expect(ControlRecord.decode(ControlRecord.handoverScheduled(s).encoded()) == .handoverScheduled(s))
        #expect(ControlRecord.decode(ControlRecord.handoverEnded(e).encoded()) == .handoverEnded(e))
        // A schedule in force is carried by the snapshot's app state.
        var state = ReplicatedState()
        state.apply(Entry(index: 7, term: 2, payload: .data(ControlRecord.handoverScheduled(s).encoded())))
        let restored = ReplicatedState(snapshot: Snapshot(index: 7, term: 2, configuration: Configuration(members: []), appState: state.encoded()))
        #expect(restored.handover == state.handover && restored.handover?.record == s)
        state.apply(Entry(index: 8, term: 2, payload: .data(ControlRecord.handoverEnded(e).encoded())))
        #expect(state.handover == nil && state.history.count == 2)
    }
}
