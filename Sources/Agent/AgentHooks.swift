// The agent's hook executor and application check (issue 6), as the driver's hook port
// sees them: the driver decides which step runs and when; this runs exactly one step
// (a process with its timeout and kill grace, or a leader-unit job), logs it, and
// reports how it ended. The check probes on the loop and reports every result; what a
// result means (healthy, campaigns held, hand over) is the driver's to decide.
import AgentConfig
import AgentDriver
import AgentLogging
import EventLoop
import Hooks
import HookSyntax
import Posix
import RaftCore

/// AgentHooks runs hook steps and the check. Lives on the loop thread with its agent.
final class AgentHooks {
    unowned let agent: any AgentShell
    private var process: HookProcess?
    /// running is the step in progress (a process or a unit job).
    private var running: HookStepRequest?
    private(set) var check: HealthCheck?
    private let inheritedEnvironment: [String]
    /// baseEnvironment is what every hook and check starts from: the inherited
    /// environment with the application's variables from `--config` (changed by SIGHUP).
    private var baseEnvironment: [String]
    private var checkStopped = false

    init(agent: any AgentShell) throws(ConfigError) {
        self.agent = agent
        // Hooks inherit PATH, HOME and the rest, but not our own BATON_* settings nor
        // systemd's notify variables (HookEnvironment).
        inheritedEnvironment = HookEnvironment.inherited()
        baseEnvironment = HookEnvironment.base(inherited: inheritedEnvironment, application: agent.settings.hookEnvironment)
        check = try Self.makeCheck(agent.settings.hooks, loop: agent.loop)
        wire(check)
    }

    // MARK: Steps (the driver's hook port)

    func start(_ request: HookStepRequest) {
        running = request
        let job = request.job, hook = request.hook
        switch request.step {
        case .command(let argv):
            let run = request.run
            process = HookProcess.start(
                loop: agent.loop, argv: argv, environment: baseEnvironment + request.environment,
                timeout: request.timeout, killGrace: HookProcess.defaultKillGrace,
                onLine: { [weak self] stream, text in
                    self?.agent.log.event("hook-output", .info, "\(hook): \(text)",
                                          [("hook", .string(hook)), ("token", .number(job.term)), ("stream", .string(stream.rawValue)),
                                           ("line", .string(text))], .always)
                },
                onExit: { [weak self] outcome in self?.ended(run, outcome) })
            if let pid = process?.pid {
                agent.log.event("hook-start", .info, "\(hook) started for \(job.event.rawValue), term \(job.term) (pid \(pid))",
                                [("hook", .string(hook)), ("hook_event", .string(job.event.rawValue)), ("token", .number(job.term)),
                                 ("reason", .string(job.reason)), ("pid", .number(pid))], .always)
            }
        case .unit(let start):
            let unit = agent.settings.hooks.leaderUnit ?? ""
            agent.log.event("hook-start", .info, "\(start ? "starting" : "stopping") \(unit) for \(job.event.rawValue), term \(job.term)",
                            [("hook", .string(hook)), ("hook_event", .string(job.event.rawValue)), ("token", .number(job.term)),
                             ("reason", .string(job.reason)), ("unit", .string(unit)), ("action", start ? "start" : "stop")], .always)
            let run = request.run
            guard let systemd = agent.systemd else {
                return ended(run, HookOutcome(exit: nil, timedOut: false, duration: .zero, spawnError: "systemd link not started"))
            }
            systemd.unitJob(start: start) { [weak self] outcome in self?.ended(run, outcome) }
        }
    }

    /// killRunning ends the running process at once (a second SIGTERM).
    func killRunning() { process?.terminate() }

    /// ended logs a step's end, counts it, and reports it to the driver.
    private func ended(_ run: RunID, _ outcome: HookOutcome) {
        guard let request = running, request.run == run else { return }
        running = nil
        process = nil
        let job = request.job, hook = request.hook
        var fields: LogFields = [("hook", .string(hook)), ("hook_event", .string(job.event.rawValue)), ("token", .number(job.term)),
                                 ("result", .string(outcome.summary)), ("ok", .bool(outcome.succeeded)),
                                 ("duration_ms", .milliseconds(fromNanoseconds: outcome.duration.nanoseconds))]
        if outcome.droppedBytes > 0 { fields.append(("output_dropped_bytes", .number(outcome.droppedBytes))) }
        agent.apiState.metrics.recordHook(hook, succeeded: outcome.succeeded, duration: outcome.duration)
        agent.log.event("hook-end", outcome.succeeded ? .info : .warning,
                        "\(hook) for \(job.event.rawValue), term \(job.term): \(outcome.summary) after \(outcome.duration.wholeMilliseconds) ms", fields, .always)
        var code: Int32? = nil
        if case .exited(let c)? = outcome.exit { code = c }
        agent.deliver(.hookStepFinished(run, HookStepOutcome(
            succeeded: outcome.succeeded, timedOut: outcome.timedOut, exitCode: code, summary: outcome.summary,
            duration: outcome.duration)))
    }

    // MARK: The check

    /// makeCheck builds the application check the settings describe (nil without one).
    private static func makeCheck(_ h: HookSettings, loop: EventLoop) throws(ConfigError) -> HealthCheck? {
        let interval = h.checkInterval
        if let argv = h.check {
            return HealthCheck(loop: loop, probe: .command(argv), interval: interval, timeout: interval)
        }
        guard let url = h.checkURL else { return nil }
        let target: HTTPCheckTarget
        do { target = try HTTPCheckTarget.resolve(url) } catch { throw ConfigError(flag: "--check-url", error.message) }
        return HealthCheck(loop: loop, probe: .url(target), interval: interval, timeout: interval)
    }

    private func wire(_ check: HealthCheck?) {
        check?.environment = { [unowned self] in self.baseEnvironment + ["BATON_NODE_ID=\(self.agent.settings.id)"] }
        check?.onResult = { [unowned self, unowned check] passed, detail, duration in
            guard let check, check === self.check else { return }
            self.agent.deliver(.checkResult(passed: passed, detail: detail, duration: duration))
        }
    }

    func startCheck() { if !checkStopped { check?.start() } }

    /// stopCheck: a stopping agent probes no more.
    func stopCheck() {
        checkStopped = true
        check?.stop()
    }

    /// reload takes new hook and check settings (SIGHUP; validated by the caller);
    /// returns whether the check was replaced (the driver then starts it from the old
    /// one's health).
    func reload(_ settings: AgentSettings) throws(ConfigError) -> Bool {
        let h = settings.hooks, old = agent.settings.hooks
        let replaced = h.check != old.check || h.checkURL != old.checkURL
            || h.checkInterval != old.checkInterval || h.checkFailures != old.checkFailures
        let newCheck = replaced ? try Self.makeCheck(h, loop: agent.loop) : check
        baseEnvironment = HookEnvironment.base(inherited: inheritedEnvironment, application: settings.hookEnvironment)
        if replaced {
            check?.stop()
            check = newCheck
            wire(check)
            startCheck()
        }
        return replaced
    }
}
