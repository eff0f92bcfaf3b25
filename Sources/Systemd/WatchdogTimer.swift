// WATCHDOG=1 from the event loop at half of WATCHDOG_USEC.
public import EventLoop
public import Posix
import Time

extension ServiceNotifier {
    /// startWatchdog schedules WATCHDOG=1 on `loop` every `watchdogIntervalNs` and returns
    /// the timer (cancel it on shutdown), or nil when systemd asked for no watchdog.
    ///
    /// The timer runs on the loop on purpose: systemd restarts the agent when the loop
    /// stops turning, and only then. Elections, slow peers or a slow disk (fsync runs on
    /// the storage thread) do not delay it. Start it as soon as the loop runs, before
    /// READY=1: systemd may arm the watchdog as soon as the process starts.
    /// `onError` receives a failed send (for the log); the timer keeps going.
    @discardableResult
    public func startWatchdog(on loop: EventLoop, onError: ((Errno) -> Void)? = nil) -> TimerID? {
        guard isEnabled, let intervalNs = watchdogIntervalNs else { return nil }
        let every = max(.milliseconds(1), Interval(nanoseconds: Int64(min(intervalNs, UInt64(Int64.max)))))
        return loop.schedule(after: every, repeatingEvery: every) { _ in
            if let error = self.watchdog() { onError?(error) }
        }
    }
}
