import Foundation
import ScenarioText
import Testing

/// DriverScenarioTests runs every `scenarios/*.txt` file through `DriverHarness` and
/// compares each command's transcript with the one checked in below its `----` line.
/// `BATON_REWRITE_SCENARIOS=1 swift test --filter DriverScenarioTests` rewrites them:
/// read every changed line against design §1–§2 before committing it.
@Suite struct DriverScenarioTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("scenarios")

    /// required lists every scenario file; a missing one fails, so none is lost quietly.
    static let required = [
        "check_fails_on_leader.txt", "demote_running_when_transfer_asked.txt", "hook_fails.txt",
        "promote_failure_backoff.txt", "resign_refused.txt", "resign_succeeds.txt",
        "sigterm_during_startup_hook.txt", "sigterm_hands_over.txt", "storage_failure_recovery.txt",
    ]

    static var files: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(".txt") }.sorted()
    }

    /// The tests run over the required list, not over what happens to be in the
    /// directory: a missing file fails, an unlisted one is reported.
    @Test func everyScenarioFileIsListed() {
        #expect(Self.files == Self.required.sorted(), "scenario files and the required list must match")
    }

    @Test(arguments: required)
    func scenario(_ name: String) throws {
        let url = Self.directory.appendingPathComponent(name)
        let text = try String(contentsOf: url, encoding: .utf8)
        let harness = DriverHarness()
        let rewriting = ProcessInfo.processInfo.environment["BATON_REWRITE_SCENARIOS"] == "1"
        let (rewritten, problems) = try ScenarioScript.play(text, name: name, rewriting: rewriting) { try harness.run($0) }
        if let rewritten, rewritten != text { try rewritten.write(to: url, atomically: true, encoding: .utf8) }
        for problem in problems { Issue.record("\(problem)") }
    }
}
