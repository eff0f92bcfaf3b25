/// LogOutput is where finished lines go. Writes never block: the log keeps what the
/// output does not take in a bounded buffer and tries again later (issue 15 item 3:
/// a stalled journald or an undrained pipe must not stop the event loop).
public protocol LogOutput: AnyObject {
    /// writeSome writes a prefix of `bytes` without blocking and returns how many bytes
    /// it took: 0 when the reader takes nothing more right now, nil when the output is
    /// gone for good (closed, broken pipe).
    func writeSome(_ bytes: UnsafeRawBufferPointer) -> Int?
    /// waitWritable waits at most `timeoutMs` for room; used only on the way out, to
    /// flush the last lines ("stopped") before the process exits.
    func waitWritable(timeoutMs: Int) -> Bool
    /// wantsPriorityPrefix: lines start with `<N>`, the syslog priority, because the
    /// output is journald's stream (sd-daemon(3)).
    var wantsPriorityPrefix: Bool { get }
}

/// MemoryLogOutput keeps lines in memory: for tests and simulations. `room` limits how
/// many more bytes it accepts (nil: unlimited), to play a reader that stopped reading.
public final class MemoryLogOutput: LogOutput {
    public private(set) var bytes: [UInt8] = []
    public var room: Int?
    public var wantsPriorityPrefix: Bool
    public var gone = false

    public init(room: Int? = nil, priorityPrefix: Bool = false) {
        self.room = room
        self.wantsPriorityPrefix = priorityPrefix
    }

    public var lines: [String] {
        String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    public func writeSome(_ chunk: UnsafeRawBufferPointer) -> Int? {
        if gone { return nil }
        let n = min(chunk.count, room ?? chunk.count)
        bytes += chunk[0..<n]
        if let r = room { room = r - n }
        return n
    }

    public func waitWritable(timeoutMs: Int) -> Bool { (room ?? 1) > 0 }
}
