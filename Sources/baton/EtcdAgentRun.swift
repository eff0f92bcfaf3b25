// Running an agent of either engine: the loop, the signals, the exit. `baton agent
// --backend etcd` (issue 18) has the same start-up as the Raft agent's — settings
// checked, the log made, signals blocked before any thread starts — with an etcd data
// dir (a lock, no Raft state) and `EtcdAgent` in place of `Agent`.
import Agent
import AgentConfig
import AgentLogging
import EventLoop
import Posix
import RaftCore
import Storage

#if canImport(Glibc)
import Glibc
#endif

/// runEtcdAgent runs the etcd engine's agent until it stopped, then exits the process.
func runEtcdAgent(_ settings: AgentSettings, options: AgentOptions, log: AgentLog) -> Never {
    let directory: EtcdDataDirectory
    do { directory = try EtcdDataDirectory.open(path: settings.dataDir) } catch { die("--data-dir: \(error)") }
    let signals: SignalFD
    do { signals = try SignalFD(signals: [SignalNumber.terminate, SignalNumber.interrupt, SignalNumber.hangup]) }
    catch { die("cannot watch signals: \(error)") }
    do {
        let loop = try agentLoop(log)
        let agent = try EtcdAgent(settings: settings, directory: directory, loop: loop, log: log)
        serve(agent, loop: loop, settings: settings, options: options, log: log, signals: signals)
    } catch {
        die(AgentCommand.explain(error))
    }
}

/// agentLoop makes the agent's event loop and lets the log wake it to write.
func agentLoop(_ log: AgentLog) throws -> EventLoop {
    let loop = try EventLoop()
    log.wake = { [unowned log] at in loop.schedule(at: Instant(nanoseconds: Int64(at))) { _ in log.service() } }
    return loop
}

/// serve starts `agent` (exit 2 when it cannot), runs the loop until the agent stopped
/// after SIGTERM, and exits 0.
func serve(_ agent: any RunningAgent, loop: EventLoop, settings: AgentSettings, options: AgentOptions, log: AgentLog,
           signals: consuming SignalFD) -> Never {
    do { try agent.start() } catch { die(AgentCommand.explain(error)) }
    do {
        let watcher = SignalWatcher(signals: signals, agent: agent, loop: loop, options: options, log: log)
        try loop.register(watcher.descriptor, interest: .readable, handler: watcher)
        try loop.run()
    } catch {
        die(AgentCommand.explain(error))
    }
    log.writeSummaries()
    log.event("stopped", .notice, "\(settings.id) stopped", [], .essential)
    log.drain(timeoutMs: 1_000)
    Glibc.exit(0)
}
