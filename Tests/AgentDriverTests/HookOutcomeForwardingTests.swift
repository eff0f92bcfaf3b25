@testable import AgentDriver
import RaftCore
import Testing

/// A member's own demote outcome reaches the history through the leader, once.
@Suite struct HookOutcomeForwardingTests {
    private func settle(_ h: DriverHarness, _ d: Interval) throws {
        var left = d
        while left > .zero {
            _ = try h.run("wait 20ms") + h.run("tick") + h.run("stabilize")
            left = left - .milliseconds(20)
        }
    }

    private func leader(_ h: DriverHarness) -> Int? {
        h.nodes.indices.first { !h.nodes[$0].exited && h.nodes[$0].driver.raft.role == .leader && h.nodes[$0].driver.raft.office != nil }
    }

    private func hooks(_ h: DriverHarness, _ i: Int) -> [HookRecord] {
        h.nodes[i].driver.replicated.history.compactMap { if case .hook(let r) = $0.record { r } else { nil } }
    }

    @Test func theOldLeadersDemoteIsForwardedAndLoggedOnce() throws {
        let h = DriverHarness()
        _ = try h.run("nodes 3 hooks=promote,demote")
        _ = try h.run("hooks auto")
        _ = try h.run("start")
        try settle(h, .seconds(2))
        let old = try #require(leader(h))
        let oldTerm = h.nodes[old].driver.raft.term
        _ = try h.run("resign \(old + 1)")
        try settle(h, .seconds(1))
        let new = try #require(leader(h))
        #expect(new != old)
        let waiting = h.nodes[old].driver.view.hookOutcomesToForward
        #expect(waiting.map(\.hook) == ["on-demote"] && waiting.first?.term == oldTerm && waiting.first?.member == "n\(old + 1)",
                "\(waiting)")
        // Sent twice (a retry whose answer was lost): appended once, known once.
        var out = try h.run("forward-hooks \(new + 1) from=n\(old + 1)") + h.run("forward-hooks \(new + 1) from=n\(old + 1)")
        let answers = out.filter { $0.contains("answer req=") }
        #expect(answers.count == 2 && answers[0].contains(" 200 ") && answers[0].contains("appended=1 known=0")
                && answers[1].contains(" 200 ") && answers[1].contains("appended=0 known=1"), "\(answers)")
        try settle(h, .milliseconds(300))
        for i in h.nodes.indices {
            let demotes = hooks(h, i).filter { $0.hook == "on-demote" && $0.member == "n\(old + 1)" }
            #expect(demotes.count == 1 && demotes.first?.term == oldTerm, "n\(i + 1): \(demotes)")
        }
        // The history holds it: nothing is left to send.
        #expect(h.nodes[old].driver.view.hookOutcomesToForward.isEmpty)
        // Sent to a follower: refused, naming the leader.
        out = try h.run("forward-hooks \(old + 1) from=n\(old + 1)")
        #expect(out.contains { $0.contains("answer req=") && $0.contains(" 409 ") && $0.contains("member(n\(new + 1))") }, "\(out)")
    }
}
