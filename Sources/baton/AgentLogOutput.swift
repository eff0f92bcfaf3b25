// The executable chooses where the agent's log goes (style 18): standard error,
// written without blocking, with journald's priority prefixes when it is journald's
// stream.
import AgentLogging
import Posix

/// StandardErrorLogOutput is the agent's log output: Posix's non-blocking standard error.
final class StandardErrorLogOutput: LogOutput {
    let stream = StandardErrorStream()
    var wantsPriorityPrefix: Bool { stream.isJournalStream }
    func writeSome(_ bytes: UnsafeRawBufferPointer) -> Int? { stream.writeSome(bytes) }
    func waitWritable(timeoutMs: Int) -> Bool { stream.waitWritable(timeoutMs: timeoutMs) }
}

/// makeAgentLog makes the agent's log on standard error.
func makeAgentLog(node: String, format: LogFormat, level: LogLevel) -> AgentLog {
    AgentLog(node: node, format: format, minimumLevel: level, output: StandardErrorLogOutput(),
             clock: AgentLog.Clock(wallNs: { Clock.realtimeNanoseconds() }, bootNs: { Clock.boottime() }))
}
