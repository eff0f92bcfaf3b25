// The text format of scenario tests (etcd-io/raft's datadriven idea, style rule 8):
// commentary lines, one command line, `----`, the expected transcript up to the next
// blank line. Shared by the core's and the driver's scenario tests (test support).

/// ScenarioScript is a parsed scenario file.
public struct ScenarioScript: Sendable {
    public struct Block: Sendable {
        public var preamble: [String]
        public var command: String
        public var commandLine: Int
        public var expected: [String]
    }

    public struct ParseError: Error, CustomStringConvertible {
        public var description: String
    }

    public private(set) var blocks: [Block] = []
    public private(set) var trailer: [String] = []

    public init(parsing text: String, name: String) throws(ParseError) {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        var i = 0
        var preamble: [String] = []
        while i < lines.count {
            let line = lines[i]
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) || line.hasPrefix("#") {
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
    public func rendered(outputs: [[String]]) -> String {
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

    /// play runs every block's command through `run` (which returns its transcript).
    /// Rewriting, it returns the file with the actual transcripts; otherwise the
    /// problems: a command that failed, or the first block whose transcript differs.
    public static func play(_ text: String, name: String, rewriting: Bool,
                            _ run: (String) throws -> [String]) throws(ParseError) -> (rewritten: String?, problems: [String]) {
        let script = try ScenarioScript(parsing: text, name: name)
        var actual: [[String]] = []
        for block in script.blocks {
            do {
                actual.append(try run(block.command))
            } catch {
                return (nil, ["\(name):\(block.commandLine): `\(block.command)` failed: \(error)"])
            }
        }
        if rewriting { return (script.rendered(outputs: actual), []) }
        return (nil, script.firstDifference(actual, name: name).map { [$0] } ?? [])
    }

    /// firstDifference is the first block whose transcript differs from `outputs`, with
    /// a message showing both (later blocks usually differ as a consequence).
    public func firstDifference(_ outputs: [[String]], name: String) -> String? {
        for (block, got) in zip(blocks, outputs) where block.expected != got {
            return """
                \(name):\(block.commandLine): `\(block.command)` transcript differs
                --- expected
                \(block.expected.joined(separator: "\n"))
                --- actual
                \(got.joined(separator: "\n"))
                """
        }
        return nil
    }
}
