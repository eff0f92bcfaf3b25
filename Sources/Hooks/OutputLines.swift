// Turning a hook's output bytes into log lines, with explicit limits so a chatty or
// broken hook cannot fill the log or the agent's memory.

/// OutputLimits caps what one hook run may put in the log.
public struct OutputLimits: Hashable, Sendable {
    /// A longer line is cut at this many bytes and marked with `…[cut]`.
    public var maxLineBytes: Int
    /// After this many bytes in one run (both streams), the rest is read and dropped,
    /// and one line says how much was dropped.
    public var maxBytesPerRun: Int

    public init(maxLineBytes: Int = 2048, maxBytesPerRun: Int = 64 * 1024) {
        precondition(maxLineBytes > 0 && maxBytesPerRun > 0)
        self.maxLineBytes = maxLineBytes
        self.maxBytesPerRun = maxBytesPerRun
    }
}

/// OutputLines assembles lines from one stream's chunks. The byte budget is shared by
/// the streams of one run through `Budget`.
public struct OutputLines {
    /// Budget is the bytes a run may still log, shared by its stdout and stderr.
    public final class Budget {
        public let limit: Int
        public private(set) var used = 0
        public private(set) var dropped = 0
        public init(limit: Int) { self.limit = limit }
        /// take returns how many of `count` bytes may still be logged.
        func take(_ count: Int) -> Int {
            let allowed = max(0, min(count, limit - used))
            used += allowed
            dropped += count - allowed
            return allowed
        }
    }

    let maxLineBytes: Int
    let budget: Budget
    private var partial: [UInt8] = []
    private var cutting = false   // the current line passed maxLineBytes: drop until newline

    public init(maxLineBytes: Int, budget: Budget) {
        self.maxLineBytes = maxLineBytes
        self.budget = budget
    }

    /// feed takes a chunk and returns the complete lines it finished (without "\n").
    public mutating func feed(_ chunk: some Collection<UInt8>) -> [String] {
        var lines: [String] = []
        var allowed = budget.take(chunk.count)
        for byte in chunk {
            if allowed == 0 { break }
            allowed -= 1
            if byte == UInt8(ascii: "\n") {
                lines.append(flush())
                continue
            }
            if cutting { continue }
            if partial.count == maxLineBytes {
                cutting = true
                continue
            }
            partial.append(byte)
        }
        return lines
    }

    /// finish returns the last unterminated line, if any (the stream ended).
    public mutating func finish() -> String? {
        partial.isEmpty && !cutting ? nil : flush()
    }

    private mutating func flush() -> String {
        var line = String(decoding: partial, as: UTF8.self)
        if line.hasSuffix("\r") { line.removeLast() }
        if cutting { line += "…[cut]" }
        partial.removeAll(keepingCapacity: true)
        cutting = false
        return line
    }
}
