// The driver's ports as the real agent implements them: each call goes straight to the
// loop-side part that does the work (storage thread, transport, hook processes, the
// held HTTP request, the log). None calls the driver back: what follows arrives later
// through `Agent.deliver`.
import AgentDriver
import AgentLogging
import RaftCore

/// AgentPorts is the one object behind all six ports of the agent's driver.
final class AgentPorts: PersistPort, PeerPort, HookPort, ResponderPort, LogPort, LifecyclePort {
    /// agent is set right after the driver is built (the driver makes no port call
    /// before its first input).
    unowned var agent: Agent!

    func submit(_ ready: Ready) -> JobID { agent.submit(ready) }

    func send(_ messages: [Message]) { agent.send(messages) }

    func setPeers(_ peers: [DriverMember]) { agent.setPeers(peers) }

    func recordRemoved() { agent.recordRemoved() }

    func start(_ request: HookStepRequest) { agent.hooks.start(request) }

    func killRunning() { agent.hooks.killRunning() }

    func answer(_ request: RequestID, _ answer: ApiAnswer) { agent.answerHeld(request, answer) }

    func event(_ event: @autoclosure () -> LogEvent) {
        let e = event()
        agent.log.event(e.name, e.level, e.message, e.fields, e.policy, term: e.term)
    }

    func exit(code: Int32) { agent.exitRequested = true }
}
