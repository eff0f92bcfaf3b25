import Foundation
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
        let script = try ScenarioScript(parsing: text, name: name)
        var harness = ScenarioHarness()
        var actual: [[String]] = []
        for block in script.blocks {
            do {
                actual.append(try harness.run(block.command))
            } catch {
                Issue.record("\(name):\(block.commandLine): `\(block.command)` failed: \(error)")
                return
            }
        }
        if Self.rewriting {
            let rewritten = script.rendered(outputs: actual)
            if rewritten != text { try rewritten.write(to: url, atomically: true, encoding: .utf8) }
        } else {
            for (block, got) in zip(script.blocks, actual) where block.expected != got {
                Issue.record("""
                    \(name):\(block.commandLine): `\(block.command)` transcript differs
                    --- expected
                    \(block.expected.joined(separator: "\n"))
                    --- actual
                    \(got.joined(separator: "\n"))
                    """)
                break  // later blocks usually differ as a consequence
            }
        }
        // The checkers hold whatever the transcript says: a scenario that shows a
        // violation fails, there is no "known bug" exemption.
        #expect(harness.violations.isEmpty, "\(name): \(harness.violations)")
    }
}

/// ScenarioScript is a parsed scenario file: blocks of commentary, one command line,
/// `----`, and the expected transcript up to the next blank line.
struct ScenarioScript {
    struct Block {
        var preamble: [String]
        var command: String
        var commandLine: Int
        var expected: [String]
    }
    struct ParseError: Error, CustomStringConvertible { var description: String }

    var blocks: [Block] = []
    var trailer: [String] = []

    init(parsing text: String, name: String) throws {
        var lines = text.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        var i = 0
        var preamble: [String] = []
        while i < lines.count {
            let line = lines[i]
            if line.trimmingCharacters(in: .whitespaces).isEmpty || line.hasPrefix("#") {
                preamble.append(line); i += 1; continue
            }
            let commandLine = i + 1
            i += 1
            guard i < lines.count, lines[i] == "----" else {
                throw ParseError(description: "\(name):\(commandLine): `\(line)` must be followed by a `----` line")
            }
            i += 1
            var expected: [String] = []
            while i < lines.count, !lines[i].isEmpty { expected.append(lines[i]); i += 1 }
            blocks.append(Block(preamble: preamble, command: line, commandLine: commandLine, expected: expected))
            preamble = []
        }
        trailer = preamble
    }

    /// rendered is the file with each block's transcript replaced.
    func rendered(outputs: [[String]]) -> String {
        var out: [String] = []
        for (block, lines) in zip(blocks, outputs) {
            // Exactly one blank line separates a transcript from what follows.
            var pre = block.preamble
            if !out.isEmpty { while pre.first?.isEmpty == true { pre.removeFirst() }; out.append("") }
            out += pre
            out.append(block.command)
            out.append("----")
            out += lines
        }
        var trailer = self.trailer
        while trailer.first?.isEmpty == true { trailer.removeFirst() }
        if !trailer.isEmpty { out.append(""); out += trailer }
        return out.joined(separator: "\n") + "\n"
    }
}
