// `--check CMD` / `--check-url URL`: the application's own health, probed every
// interval on the loop; a node whose check fails does not campaign, and a leader whose
// check fails hands over (keepalived's track_script, Patroni's checks) — decided by the
// agent driver from the results reported here.
public import EventLoop
import Posix
public import Time

/// HealthProbe is what is run: a command (exit 0 = pass) or an HTTP GET (2xx = pass).
public enum HealthProbe: Sendable {
    case command([String])
    case url(HTTPCheckTarget)
}

/// HealthCheck probes every `interval`, one probe at a time, each bounded by
/// `timeout`, and reports every result; what the results mean (healthy after a pass,
/// failing after N failures in a row) is the agent driver's `CheckTracker`.
public final class HealthCheck {
    let loop: EventLoop
    public let probe: HealthProbe
    public let interval: Interval
    public let timeout: Interval
    private var inFlight = false
    private var timer: TimerID?

    public var environment: () -> [String] = { [] }
    /// onResult is called after every probe with its result, detail and duration.
    public var onResult: (_ passed: Bool, _ detail: String, _ duration: Interval) -> Void = { _, _, _ in }

    public init(loop: EventLoop, probe: HealthProbe, interval: Interval, timeout: Interval) {
        self.loop = loop
        self.probe = probe
        self.interval = interval
        self.timeout = timeout
    }

    /// start probes at once, then every interval.
    public func start() {
        runProbe()
        let every = max(interval, .milliseconds(1))
        timer = loop.schedule(after: every, repeatingEvery: every) { [weak self] _ in self?.runProbe() }
    }

    public func stop() {
        if let t = timer { loop.cancel(t); timer = nil }
    }

    private func runProbe() {
        // A probe still running when the next is due is not doubled up; its own
        // timeout ends it.
        guard !inFlight else { return }
        inFlight = true
        let started = Clock.now()
        let finish: (Bool, String) -> Void = { [weak self] passed, detail in
            guard let self else { return }
            self.inFlight = false
            self.onResult(passed, detail, Clock.now() - started)
        }
        switch probe {
        case .command(let argv):
            var lastLine = ""
            HookProcess.start(loop: loop, argv: argv, environment: environment(), timeout: timeout,
                              killGrace: min(HookProcess.defaultKillGrace, timeout),
                              limits: OutputLimits(maxLineBytes: 256, maxBytesPerRun: 4096),
                              onLine: { _, line in lastLine = line },
                              onExit: { outcome in
                                  finish(outcome.succeeded, lastLine.isEmpty ? outcome.summary : "\(outcome.summary): \(lastLine)")
                              })
        case .url(let target):
            HTTPProbe.start(loop: loop, target: target, timeout: timeout, done: finish)
        }
    }
}
