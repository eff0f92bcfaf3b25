// --leader-unit: StartUnit on promote, StopUnit on demote, off the loop thread.
public import EventLoop
import CSystemd
import Posix
public import Time

/// UnitController starts and stops one leader-only unit through the service manager's
/// D-Bus API and reports each job's end on the event loop.
///
/// Why a thread rather than the bus descriptor in epoll: a job is a connect, an AddMatch,
/// a call and a wait for one signal, at most once per promotion or demotion. sd-bus's
/// blocking calls express that in a few lines, each bounded by the job's deadline; driving
/// sd-bus from epoll would mean mirroring its changing poll events and internal timeouts
/// in the loop for no gain in latency. The loop never waits: `submit` only queues, and
/// the report comes back through `EventLoopRemote.post`, as StorageWorker's fsyncs do.
///
/// Requests run one at a time in submission order, like hooks (design S4), so a StopUnit
/// never overtakes the StartUnit before it.
public final class UnitController: Sendable {
    public let unit: UnitName
    public let bus: SystemdBus
    /// timeout bounds each job from the start of its bus work: the agent passes its
    /// hook timeout, since a unit job counts like a hook.
    public let timeout: Interval
    /// queueLimit bounds requests waiting behind the one in progress.
    public let queueLimit: Int

    private let shared: Shared
    private let thread: PosixThread

    private final class Shared: @unchecked Sendable {
        let monitor = Monitor()
        var queue: [(id: UInt64, action: UnitAction)] = []
        var nextID: UInt64 = 1
        var stopping = false
        var threadTaken = false
    }

    /// init starts the worker thread. `completion` runs on the thread of the loop that
    /// owns `remote`, once per accepted request, in submission order.
    public init(unit: UnitName, bus: SystemdBus = .system, timeout: Interval,
                queueLimit: Int = 16, remote: EventLoopRemote,
                completion: @escaping @Sendable (UnitJobReport) -> Void) {
        precondition(timeout >= .milliseconds(1), "UnitController needs a timeout of at least 1ms")
        precondition(queueLimit > 0, "UnitController needs room for one queued request")
        self.unit = unit
        self.bus = bus
        self.timeout = timeout
        let timeoutMs = UInt64(timeout.wholeMilliseconds)  // sd-bus takes microseconds; ms is plenty
        self.queueLimit = queueLimit
        let shared = Shared()
        self.shared = shared
        do {
            self.thread = try PosixThread.spawn {
                UnitController.run(shared: shared, unit: unit, bus: bus, timeoutMs: timeoutMs,
                                   remote: remote, completion: completion)
            }
        } catch {
            // Only when the process is out of threads or memory: nothing sensible is left.
            preconditionFailure("UnitController: cannot start its thread: \(error)")
        }
    }

    deinit { shutdown() }

    /// busUnavailable explains why sd-bus cannot be used (libsystemd.so.0 is loaded on
    /// first use, not linked), or nil when it can.
    public static func busUnavailable() -> String? {
        var why: UnsafePointer<CChar>? = nil
        guard baton_sd_bus_load(&why) < 0 else { return nil }
        return why.map { String(cString: $0) } ?? "libsystemd.so.0 could not be loaded"
    }

    /// start queues StartUnit (on promote). Returns the request id, or nil when
    /// `queueLimit` requests already wait or after `shutdown` (count that as a failed hook).
    @discardableResult
    public func start() -> UInt64? { submit(.start) }

    /// stop queues StopUnit (on demote). Same return as `start`.
    @discardableResult
    public func stop() -> UInt64? { submit(.stop) }

    /// submit queues `action` and returns at once; it never waits for the bus.
    @discardableResult
    public func submit(_ action: UnitAction) -> UInt64? {
        shared.monitor.locked {
            guard !shared.stopping, shared.queue.count < queueLimit else { return nil }
            let id = shared.nextID
            shared.nextID += 1
            shared.queue.append((id, action))
            shared.monitor.broadcast()
            return id
        }
    }

    /// shutdown drops requests not yet begun (they are never reported), waits for the one
    /// in progress (at most `timeoutMs`) and ends the thread. For an orderly exit, wait for
    /// the demote's StopUnit report on the loop first, then call this.
    public func shutdown() {
        let mine = shared.monitor.locked {
            shared.stopping = true
            shared.queue.removeAll()
            shared.monitor.broadcast()
            defer { shared.threadTaken = true }
            return !shared.threadTaken
        }
        if mine { thread.join() }
    }

    private static func run(shared: Shared, unit: UnitName, bus: SystemdBus, timeoutMs: UInt64,
                            remote: EventLoopRemote, completion: @escaping @Sendable (UnitJobReport) -> Void) {
        while true {
            let next: (id: UInt64, action: UnitAction)? = shared.monitor.locked {
                while shared.queue.isEmpty && !shared.stopping { shared.monitor.wait() }
                return shared.queue.isEmpty ? nil : shared.queue.removeFirst()
            }
            guard let (id, action) = next else { return }
            let began = Clock.now()
            let (outcome, jobPath) = UnitJobRunner.run(action, unit: unit, bus: bus, timeoutMs: timeoutMs)
            let report = UnitJobReport(id: id, action: action, unit: unit, outcome: outcome,
                                       jobPath: jobPath, elapsed: Clock.now() - began)
            remote.post { _ in completion(report) }
        }
    }
}
