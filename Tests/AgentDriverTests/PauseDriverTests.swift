@testable import AgentDriver
import RaftCore
import Testing

/// The maintenance pause through the driver (issue 16): drivers of a 3-member group in
/// the scenario harness, with time moved in small steps and every node ticked, so any
/// campaign a paused member started would show as a role or term change.
@Suite struct PauseDriverTests {
    /// settle moves the clock by `d` in 20 ms steps, ticking every node and delivering
    /// everything; returns every output line.
    @discardableResult
    private func settle(_ h: DriverHarness, _ d: Interval) throws -> [String] {
        var lines: [String] = []
        var left = d
        while left > .zero {
            lines += try h.run("wait 20ms") + h.run("tick") + h.run("stabilize")
            left = left - .milliseconds(20)
        }
        return lines
    }

    private func live(_ h: DriverHarness) -> [DriverHarness.Node] { h.nodes.filter { !$0.exited } }

    private func leader(_ h: DriverHarness) -> Int? {
        h.nodes.indices.first { !h.nodes[$0].exited && h.nodes[$0].driver.raft.role == .leader && h.nodes[$0].driver.raft.office != nil }
    }

    private func group(check: String = "") throws -> (DriverHarness, Int) {
        let h = DriverHarness()
        _ = try h.run("nodes 3" + (check.isEmpty ? "" : " check=\(check)"))
        _ = try h.run("hooks auto")
        _ = try h.run("start")
        if !check.isEmpty { for n in check.split(separator: ",") { _ = try h.run("check \(n) pass") } }
        try settle(h, .seconds(2))
        return (h, try #require(leader(h)))
    }

    private func answers(_ lines: [String], status: Int) -> [String] {
        lines.filter { $0.contains("answer req=") && $0.contains(" \(status) ") }
    }

    @Test func aPausedGroupWhoseLeaderDiesStaysLeaderlessUntilResumed() throws {
        let (h, l) = try group()
        var out = try h.run("pause \(l + 1) for=600s reason=db-restart") + h.run("stabilize")
        #expect(answers(out, status: 200).count == 1, "\(out)")
        try settle(h, .milliseconds(200))
        for n in h.nodes { #expect(n.driver.view.pause?.reason == "db-restart") }
        let term = h.nodes[l].driver.raft.term
        _ = try h.run("kill \(l + 1)")
        // 30 s: a hundred election timeouts; no member may even pre-campaign.
        var left = 1_500
        while left > 0 {
            try settle(h, .milliseconds(20))
            for n in live(h) {
                #expect(n.driver.raft.role == .follower, "\(n.name) campaigned while paused")
                #expect(n.driver.raft.term == term)
            }
            left -= 1
        }
        // A resume on a member that knows no leader: it campaigns and logs it first.
        let f = try #require(h.nodes.indices.first { $0 != l })
        out = try h.run("resume \(f + 1)")
        out += try settle(h, .seconds(1))
        #expect(answers(out, status: 200).count == 1, "\(out)")
        let new = try #require(leader(h))
        #expect(new != l)
        for n in live(h) { #expect(n.driver.view.pause == nil) }
    }

    @Test func aFailingCheckDoesNotMakeAPausedLeaderHandOver() throws {
        let (h, l) = try group(check: "1,2,3")
        _ = try h.run("pause \(l + 1)") + h.run("stabilize")
        let term = h.nodes[l].driver.raft.term
        _ = try h.run("check \(l + 1) fail times=5")
        try settle(h, .seconds(3))
        #expect(leader(h) == l && h.nodes[l].driver.raft.term == term, "the paused leader kept office")
        // Resumed, the held-back hand-over happens.
        _ = try h.run("resume \(l + 1)")
        try settle(h, .seconds(2))
        let new = try #require(leader(h))
        #expect(new != l)
    }

    @Test func aPlannedHandOverStillWorksWhilePausedAndThePauseRunsOut() throws {
        let (h, l) = try group()
        _ = try h.run("pause \(l + 1) for=5s") + h.run("stabilize")
        var out = try h.run("resign \(l + 1)")
        out += try settle(h, .seconds(1))
        let new = try #require(leader(h))
        #expect(new != l, "\(out)")
        #expect(answers(out, status: 200).count == 1)
        for n in h.nodes { #expect(n.driver.view.pause != nil, "still paused after the hand-over") }
        // The pause ends by itself: the leader logs it, and a dead leader is replaced.
        try settle(h, .seconds(5))
        for n in h.nodes { #expect(n.driver.view.pause == nil) }
        _ = try h.run("kill \(new + 1)")
        try settle(h, .seconds(2))
        #expect(leader(h) != nil)
    }

    @Test func badPausesAreRefusedAndChangeNothing() throws {
        let (h, l) = try group()
        let f = (l + 1) % 3
        var out = try h.run("pause \(l + 1) for=90000s") + h.run("pause \(l + 1) for=0s")
        #expect(answers(out, status: 400).count == 2, "\(out)")
        out = try h.run("pause \(f + 1)")
        #expect(answers(out, status: 409).count == 1, "a follower names the leader: \(out)")
        out = try h.run("resume \(l + 1)")
        #expect(out.contains { $0.contains("200") && $0.contains("not paused") }, "\(out)")
        try settle(h, .milliseconds(200))
        for n in h.nodes { #expect(n.driver.view.pause == nil) }
    }
}

/// A pause entry only in the followers' logs (the leader committed it and died before
/// saying so) already holds their campaigns.
@Suite struct UncommittedPauseTests {
    /// settledGroup: three started drivers after 2 s, and the leader's index.
    func settledGroup() throws -> (DriverHarness, Int) {
        let h = DriverHarness()
        for command in ["nodes 3", "hooks auto", "start"] { _ = try h.run(command) }
        for _ in 0..<100 { _ = try h.run("wait 20ms") + h.run("tick") + h.run("stabilize") }
        return (h, try #require(h.nodes.indices.first { h.nodes[$0].driver.raft.office != nil }))
    }

    @Test func followersHoldingAnUncommittedPauseDoNotCampaign() throws {
        let (h, l) = try settledGroup()
        // The pause goes out; the followers append it; the leader dies before anything more.
        _ = try h.run("pause \(l + 1) for=600s")
        _ = try h.run("fsync \(l + 1)")
        _ = try h.run("deliver")
        for i in h.nodes.indices where i != l { _ = try h.run("fsync \(i + 1)") }
        _ = try h.run("kill \(l + 1)")
        let followers = h.nodes.indices.filter { $0 != l }
        for i in followers {
            let p = try #require(h.nodes[i].driver.view.pause, "\(h.nodes[i].name) holds the pause from its log")
            #expect(!p.committed)
        }
        let term = h.nodes[followers[0]].driver.raft.term
        for _ in 0..<500 {
            _ = try h.run("wait 20ms") + h.run("tick") + h.run("stabilize")
            for i in followers {
                #expect(h.nodes[i].driver.raft.role == .follower && h.nodes[i].driver.raft.term == term)
            }
        }
    }
}

extension UncommittedPauseTests {
    @Test func anAcknowledgedResumeFreesCampaignsEvenIfTheLeaderDiesAtOnce() throws {
        let (h, l) = try settledGroup()
        _ = try h.run("pause \(l + 1) for=600s")
        for _ in 0..<10 { _ = try h.run("wait 20ms") + h.run("tick") + h.run("stabilize") }
        #expect(h.nodes.allSatisfy { $0.driver.view.pause?.committed == true })
        // The resume reaches the followers' logs and commits on the leader, which
        // answers and dies before telling the followers.
        var out = try h.run("resume \(l + 1)")
        out += try h.run("fsync \(l + 1)") + h.run("deliver")
        for i in h.nodes.indices where i != l { out += try h.run("fsync \(i + 1)") }
        out += try h.run("deliver to=\(l + 1)")
        #expect(out.contains { $0.contains("answer req=") && $0.contains(" 200 ") }, "\(out)")
        _ = try h.run("kill \(l + 1)")
        for _ in 0..<50 { _ = try h.run("wait 20ms") + h.run("tick") + h.run("stabilize") }
        #expect(h.nodes.contains { !$0.exited && $0.driver.raft.office != nil }, "the resumed group elects a leader")
    }
}

/// The replicated state's records and its snapshot form.
@Suite struct ControlRecordTests {
    @Test func aPauseSurvivesASnapshotAndAnOldSnapshotStartsUnpaused() throws {
        let record = PauseRecord(duration: .seconds(60), untilWallMs: 1_000_060_000, requestedWallMs: 1_000_000_000,
                                 by: "127.0.0.1:5000", reason: "db restart")
        var s = ReplicatedState()
        s.apply(Entry(index: 1, term: 1, payload: .data(ControlRecord.pause(record).encoded())))
        #expect(s.pause?.record == record)
        let snap = Snapshot(index: 1, term: 1, configuration: Configuration(voters: [NodeID(1)]), appState: s.encoded())
        #expect(ReplicatedState(snapshot: snap) == s)
        let old = Snapshot(index: 1, term: 1, configuration: Configuration(voters: [NodeID(1)]), appState: [1])
        #expect(ReplicatedState(snapshot: old).pause == nil)
        s.apply(Entry(index: 2, term: 1, payload: .data(ControlRecord.resume(ResumeRecord(wallMs: 0, by: "x", reason: "r")).encoded())))
        #expect(s.pause == nil)
    }

    @Test func aHistoryOfTheLargestRecordsStillFitsASnapshot() {
        let long = String(repeating: "r", count: ControlRecord.textBytesMax)
        var s = ReplicatedState()
        for i in 1...1_500 {
            let r = ControlRecord.pause(PauseRecord(duration: .seconds(1), untilWallMs: 1, requestedWallMs: 1, by: long, reason: long))
            s.apply(Entry(index: LogIndex(i), term: 1, payload: .data(r.encoded())))
        }
        #expect(s.encoded().count <= Limits.maxSnapshotAppStateBytes)
        #expect(s.history.count < ReplicatedState.historyLimit && s.history.last?.index == 1_500)
        let restored = ReplicatedState(snapshot: Snapshot(index: 1_500, term: 1, configuration: Configuration(voters: [NodeID(1)]),
                                                          appState: s.encoded()))
        #expect(restored == s, "a member restored from the snapshot keeps the same records, and the same count of bytes")
    }

    @Test func truncatedOrUnknownRecordsAreNotRead() {
        let bytes = ControlRecord.pause(PauseRecord(duration: .seconds(1), untilWallMs: 0, requestedWallMs: 0, by: "a", reason: "b")).encoded()
        for n in 0..<bytes.count { #expect(ControlRecord.decode(Array(bytes.prefix(n))) == nil) }
        #expect(ControlRecord.decode([99, 0, 0]) == nil)
        #expect(ControlRecord.decode(bytes + [0]) == nil)
        let long = "x" + String(repeating: "é", count: 1_000)
        let cut = ControlRecord.resume(ResumeRecord(wallMs: 0, by: long, reason: "")).encoded()
        guard case .resume(let r)? = ControlRecord.decode(cut) else { Issue.record("a long text is cut, not refused"); return }
        #expect(r.by.utf8.count <= ControlRecord.textBytesMax && r.by.hasPrefix("xéé") && r.by.utf8.count == 511)
    }
}
