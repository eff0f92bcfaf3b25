// `--check CMD` / `--check-url URL`: the application's own health, probed every
// interval on the loop; a node whose check fails does not campaign, and a leader whose
// check fails hands over (keepalived's track_script, Patroni's checks).
public import EventLoop
import Posix

/// HealthProbe is what is run: a command (exit 0 = pass) or an HTTP GET (2xx = pass).
public enum HealthProbe: Sendable {
    case command([String])
    case url(HTTPCheckTarget)
}

/// HealthCheck probes every `intervalNs`, one probe at a time, each bounded by
/// `timeoutNs`, and calls `onChange` when the healthy state flips.
public final class HealthCheck {
    let loop: EventLoop
    public let probe: HealthProbe
    public let intervalNs: UInt64
    public let timeoutNs: UInt64
    public private(set) var tracker: CheckTracker
    public private(set) var lastDetail = ""
    public private(set) var lastDurationNs: UInt64 = 0
    private var inFlight = false
    private var timer: TimerID?

    public var environment: () -> [String] = { [] }
    public var onChange: (Bool) -> Void = { _ in }
    /// onResult is called after every probe (for the log: failures only, say).
    public var onResult: (_ passed: Bool, _ detail: String) -> Void = { _, _ in }

    public init(loop: EventLoop, probe: HealthProbe, intervalNs: UInt64, failuresToFail: Int, timeoutNs: UInt64,
                startHealthy: Bool = false) {
        self.loop = loop
        self.probe = probe
        self.intervalNs = intervalNs
        self.timeoutNs = timeoutNs
        tracker = CheckTracker(failuresToFail: failuresToFail, healthy: startHealthy)
    }

    public var healthy: Bool { tracker.healthy }

    /// start probes at once, then every interval.
    public func start() {
        runProbe()
        let ms = max(1, Int(intervalNs / 1_000_000))
        timer = loop.schedule(afterMs: ms, repeatingEveryMs: ms) { [weak self] _ in self?.runProbe() }
    }

    public func stop() {
        if let t = timer { loop.cancel(t); timer = nil }
    }

    private func runProbe() {
        // A probe still running when the next is due is not doubled up; its own
        // timeout ends it.
        guard !inFlight else { return }
        inFlight = true
        let started = Clock.boottime()
        let finish: (Bool, String) -> Void = { [weak self] passed, detail in
            guard let self else { return }
            self.inFlight = false
            self.lastDurationNs = Clock.boottime() - started
            self.lastDetail = detail
            self.onResult(passed, detail)
            if let changed = self.tracker.record(passed: passed) { self.onChange(changed) }
        }
        switch probe {
        case .command(let argv):
            var lastLine = ""
            HookProcess.start(loop: loop, argv: argv, environment: environment(), timeoutNs: timeoutNs,
                              killGraceNs: min(HookProcess.defaultKillGraceNs, timeoutNs),
                              limits: OutputLimits(maxLineBytes: 256, maxBytesPerRun: 4096),
                              onLine: { _, line in lastLine = line },
                              onExit: { outcome in
                                  finish(outcome.succeeded, lastLine.isEmpty ? outcome.summary : "\(outcome.summary): \(lastLine)")
                              })
        case .url(let target):
            HTTPProbe.start(loop: loop, target: target, timeoutNs: timeoutNs, done: finish)
        }
    }
}
