import Foundation
import ScenarioText
import Testing

/// ScenarioTests runs every `scenarios/*.txt` file through `ScenarioHarness` and
/// compares each command's transcript with the one checked in below its `----` line
/// (etcd-io/raft's datadriven format). Lines starting with `#` and blank lines before a
/// command are commentary and are kept as they are.
///
/// `BATON_REWRITE_SCENARIOS=1 swift test --filter ScenarioTests` rewrites the expected
/// transcripts from the actual ones. A rewritten transcript is a claim that the
/// behaviour is right: read every changed line against design §2 before committing it.
@Suite struct ScenarioTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("scenarios")

    /// expected names every scenario file. The tests run over this list, not over what
    /// happens to be in the directory, so a missing or unreadable file fails instead of
    /// quietly running fewer scenarios; a new file must be added here.
    static let expected: [String] = [
        "checkquorum_lease_lost.txt",
        "early_campaign.txt",
        "lease_lapse_successor.txt",
        "lease_lapse_window.txt",
        "lease_under_drift.txt",
        "log_conflict_truncation.txt",
        "paused_leader.txt",
        "prevote_checkquorum.txt",
        "rejoin_higher_term.txt",
        "rejoin_partitioned_node.txt",
        "restart_waits.txt",
        "split_vote.txt",
        "transfer_flag_exact_term.txt",
        "transfer_lagging_follower.txt",
        "transfer_timeoutnow_lost.txt",
        "transfer_waits_for_demote.txt",
        "witness_never_campaigns.txt",
    ]

    /// files is what the directory holds.
    static var files: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(".txt") }.sorted()
    }

    static var rewriting: Bool { ProcessInfo.processInfo.environment["BATON_REWRITE_SCENARIOS"] == "1" }

    @Test func scenarioFilesArePresent() {
        let missing = Set(Self.expected).subtracting(Self.files).sorted()
        let unlisted = Set(Self.files).subtracting(Self.expected).sorted()
        #expect(missing.isEmpty, "scenario files missing from \(Self.directory.path): \(missing)")
        #expect(unlisted.isEmpty, "scenario files not listed in ScenarioTests.expected (so never run): \(unlisted)")
    }

    @Test(arguments: expected)
    func scenario(_ name: String) throws {
        let url = Self.directory.appendingPathComponent(name)
        let text = try String(contentsOf: url, encoding: .utf8)
        var harness = ScenarioHarness()
        let (rewritten, problems) = try ScenarioScript.play(text, name: name, rewriting: Self.rewriting) { try harness.run($0) }
        if let rewritten, rewritten != text { try rewritten.write(to: url, atomically: true, encoding: .utf8) }
        for problem in problems { Issue.record("\(problem)") }
        // The checkers hold whatever the transcript says: a scenario that shows a
        // violation fails, there is no "known bug" exemption.
        #expect(harness.violations.isEmpty, "\(name): \(harness.violations)")
    }
}
