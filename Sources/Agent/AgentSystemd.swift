// The agent's side of systemd (issue 6 part 3): READY=1 once storage is loaded, the
// listeners are bound and the start-up hook finished; STATUS= on every change of role,
// term or leader; WATCHDOG=1 from the loop at half of WATCHDOG_USEC (so only a stuck
// loop, never an election, gets the agent restarted); STOPPING=1 on shutdown; and the
// `--leader-unit` jobs, run as steps the driver asks for.
import AgentLogging
import AgentConfig
import AgentDriver
import EventLoop
import Hooks
import Posix
import RaftCore
import Systemd

/// AgentSystemd owns the notifier, the watchdog timer and the leader-unit controller.
/// Lives on the loop thread with its agent; outside systemd the notifier is a no-op.
final class AgentSystemd {
    unowned let agent: any AgentShell
    let notifier = ServiceNotifier()
    private var watchdogTimer: TimerID?
    private var lastStatus = ""
    private var readySent = false
    private var stoppingSent = false
    let units: UnitController?
    /// Completions of unit jobs waiting for their report, by request id.
    private var pendingUnitJobs: [UInt64: (HookOutcome) -> Void] = [:]

    init(agent: any AgentShell) throws(ConfigError) {
        self.agent = agent
        let h = agent.settings.hooks
        if let text = h.leaderUnit {
            let name: UnitName
            do { name = try UnitName(text) } catch { throw ConfigError(flag: "--leader-unit", error.description) }
            // libsystemd is loaded only for this; say so now, not at the first promotion.
            if let problem = UnitController.busUnavailable() { throw ConfigError(flag: "--leader-unit", problem) }
            let sink = UnitReportSink()
            units = UnitController(unit: name, bus: h.userBus ? .user : .system,
                                   timeout: h.hookTimeout,
                                   remote: agent.loop.remote) { report in sink.owner?.unitJobEnded(report) }
            sink.owner = self
        } else {
            units = nil
        }
    }

    /// start begins the watchdog (the loop runs from now on).
    func start() {
        if let problem = notifier.watchdogProblem {
            agent.log.event("systemd-watchdog", .warning, "systemd watchdog settings ignored: \(problem)", [("problem", .string(problem))])
        }
        watchdogTimer = notifier.startWatchdog(on: agent.loop) { [unowned self] error in
            self.agent.log.event("systemd-notify-failed", .warning, "cannot send WATCHDOG=1 to systemd: \(error)",
                                 [("notify", "WATCHDOG=1"), ("error", "\(error)")])
        }
    }

    /// viewChanged sends what the new view calls for: READY=1 once the start-up hook
    /// finished (storage is loaded and the listeners are bound before the driver
    /// starts), STATUS= when the readable line changed, STOPPING=1 once stopping.
    func viewChanged(_ view: AgentView) {
        if view.phase == .stopping || view.phase == .finished { stopping() }
        let line = Self.statusLine(view)
        if !readySent {
            guard view.startupFinished else { return }
            readySent = true
            lastStatus = line
            report(notifier.ready(status: line), "READY=1")
            return
        }
        guard line != lastStatus else { return }
        lastStatus = line
        report(notifier.status(line), "STATUS")
    }

    /// stopping sends STOPPING=1 (once) and ends the watchdog: systemd now waits for
    /// the exit (bounded by the unit's TimeoutStopSec), not for liveness.
    func stopping() {
        guard !stoppingSent else { return }
        stoppingSent = true
        if let t = watchdogTimer { agent.loop.cancel(t); watchdogTimer = nil }
        report(notifier.stopping(status: "stopping: handing over"), "STOPPING=1")
    }

    /// shutdown waits for a running unit job and ends the controller's thread.
    func shutdown() { units?.shutdown() }

    /// unitJob is the hook runner's leader-unit step.
    func unitJob(start: Bool, done: @escaping (HookOutcome) -> Void) {
        guard let units, let id = start ? units.start() : units.stop() else {
            done(HookOutcome(exit: nil, timedOut: false, duration: .zero,
                             spawnError: "leader unit job refused: too many queued or shutting down"))
            return
        }
        pendingUnitJobs[id] = done
    }

    private func unitJobEnded(_ report: UnitJobReport) {
        guard let done = pendingUnitJobs.removeValue(forKey: report.id) else { return }
        let timedOut: Bool
        if case .timedOut = report.outcome { timedOut = true } else { timedOut = false }
        done(HookOutcome(exit: report.outcome.succeeded ? .exited(code: 0) : nil, timedOut: timedOut,
                         duration: report.elapsed,
                         spawnError: report.outcome.succeeded || timedOut ? nil : "\(report.action.rawValue) \(report.unit): \(report.outcome)"))
    }

    static func statusLine(_ view: AgentView) -> String {
        let role = view.role == .preCandidate ? "pre-candidate" : view.role.rawValue
        let line = ServiceStatus.line(role: role, term: view.term, leader: view.leader)
        return view.pause == nil ? line : line + "; paused"
    }

    private func report(_ error: Errno?, _ what: String) {
        guard let error else { return }
        agent.log.event("systemd-notify-failed", .warning, "cannot send \(what) to systemd: \(error)",
                        [("notify", .string(what)), ("error", "\(error)")])
    }
}

/// UnitReportSink carries unit job reports to the loop. @unchecked Sendable: the job
/// thread only captures it; `owner` is read on the loop thread, inside work the loop
/// runs, and written once before the first job can be submitted.
final class UnitReportSink: @unchecked Sendable {
    weak var owner: AgentSystemd?
}
