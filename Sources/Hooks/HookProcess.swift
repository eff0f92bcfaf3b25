// One run of one command on the event loop: spawn, read its output as it comes, end it
// when it overruns, and report how it ended. The loop never waits on the child: its
// exit arrives through a pidfd and its output through non-blocking pipes.
public import EventLoop
public import Posix
public import Time

/// HookOutcome is how one command run ended.
public struct HookOutcome: Hashable, Sendable {
    /// The exit, or nil when the program could not be started.
    public var exit: ChildExit?
    /// The run passed its timeout and was ended with SIGTERM (then SIGKILL).
    public var timedOut: Bool
    public var duration: Interval
    /// Output bytes over `OutputLimits.maxBytesPerRun` that were read and dropped.
    public var droppedBytes: Int
    /// Why the program could not be started (`exit` is nil then).
    public var spawnError: String?

    public init(exit: ChildExit?, timedOut: Bool, duration: Interval, droppedBytes: Int = 0, spawnError: String? = nil) {
        self.exit = exit; self.timedOut = timedOut; self.duration = duration
        self.droppedBytes = droppedBytes; self.spawnError = spawnError
    }

    /// succeeded: exit status 0 within the timeout.
    public var succeeded: Bool { !timedOut && exit == .exited(code: 0) }

    /// summary is what the log and /status show: `exit 0`, `exit 3`, `signal 9`,
    /// `timeout (signal 15)`, `not started: …`.
    public var summary: String {
        if let spawnError { return "not started: \(spawnError)" }
        let base: String
        switch exit {
        case .exited(let code)?: base = "exit \(code)"
        case .signalled(let signal)?: base = "signal \(signal)"
        case nil: base = "unknown"
        }
        return timedOut ? "timeout (\(base))" : base
    }
}

/// OutputStream names where a line came from.
public enum OutputStream: String, Sendable { case stdout, stderr }

/// HookProcess runs one command. Create it with `start`; `onLine` gets each output
/// line, `onExit` is called once, on the loop, when the child has exited.
public final class HookProcess {
    /// defaultKillGrace is the time between SIGTERM and SIGKILL for a run over its
    /// timeout: long enough for a well-behaved hook to clean up, short enough that a
    /// stuck one does not hold the hand-over much beyond its timeout.
    public static let defaultKillGrace = Interval.seconds(2)

    let loop: EventLoop
    public let pid: Int32
    let started: Instant
    let onLine: (OutputStream, String) -> Void
    var onExit: ((HookOutcome) -> Void)?
    let budget: OutputLines.Budget
    private var readers: [PipeReader] = []
    private var timeoutTimer: TimerID?
    private var killTimer: TimerID?
    private var timedOut = false
    private var finished = false

    private init(loop: EventLoop, pid: Int32, budget: OutputLines.Budget,
                 onLine: @escaping (OutputStream, String) -> Void, onExit: @escaping (HookOutcome) -> Void) {
        self.loop = loop
        self.pid = pid
        self.started = Clock.now()
        self.budget = budget
        self.onLine = onLine
        self.onExit = onExit
    }

    /// start spawns `argv` with exactly `environment` (KEY=value strings). A program
    /// that cannot be started is reported through `onExit` on the next loop turn (never
    /// from inside `start`, so callers need not handle re-entry), with `spawnError` set.
    @discardableResult
    public static func start(loop: EventLoop, argv: [String], environment: [String],
                             timeout: Interval, killGrace: Interval = defaultKillGrace,
                             limits: OutputLimits = OutputLimits(),
                             onLine: @escaping (OutputStream, String) -> Void,
                             onExit: @escaping (HookOutcome) -> Void) -> HookProcess? {
        let child: SpawnedChild
        do {
            child = try ChildProcess.spawnCapturingOutput(argv, environment: environment)
        } catch {
            let message = error == .noSuchFile ? "\(argv[0]): no such program (give a full path or put it on PATH)"
                : error == .permissionDenied ? "\(argv[0]): not executable (chmod +x?)" : "\(argv[0]): \(error)"
            loop.schedule(after: .zero) { _ in
                onExit(HookOutcome(exit: nil, timedOut: false, duration: .zero, droppedBytes: 0, spawnError: message))
            }
            return nil
        }
        let budget = OutputLines.Budget(limit: limits.maxBytesPerRun)
        let process = HookProcess(loop: loop, pid: child.pid, budget: budget, onLine: onLine, onExit: onExit)
        process.readers = [
            PipeReader(descriptor: FileDescriptor(adopting: child.stdout), stream: .stdout, lines: OutputLines(maxLineBytes: limits.maxLineBytes, budget: budget), owner: process),
            PipeReader(descriptor: FileDescriptor(adopting: child.stderr), stream: .stderr, lines: OutputLines(maxLineBytes: limits.maxLineBytes, budget: budget), owner: process),
        ]
        for reader in process.readers {
            // Cannot fail for a fresh pipe short of running out of memory; without the
            // registration the output is still drained at exit.
            try? loop.register(reader.descriptor.rawValue, interest: .readable, handler: reader)
        }
        do {
            try loop.watchChild(pid: child.pid) { [process] result in process.exited(result) }
        } catch {
            // Cannot happen for a child we have not reaped; end it rather than lose
            // track, and report the run as failed so the queue moves on.
            ChildProcess.signalGroup(child.pid, SIGKILL_VALUE)
            for reader in process.readers { reader.drainAndClose(loop: loop) }
            process.readers.removeAll()
            process.finished = true
            process.onExit = nil
            loop.schedule(after: .zero) { _ in
                onExit(HookOutcome(exit: nil, timedOut: false, duration: .zero, droppedBytes: 0,
                                   spawnError: "\(argv[0]): cannot watch the process: \(error)"))
            }
            return process
        }
        process.timeoutTimer = loop.schedule(at: process.started + timeout) { [process] _ in
            process.overran(killGrace: killGrace)
        }
        return process
    }

    /// overran ends a run over its timeout: SIGTERM to its process group, SIGKILL after
    /// the grace period if it is still there.
    private func overran(killGrace: Interval) {
        timeoutTimer = nil
        guard !finished else { return }
        timedOut = true
        ChildProcess.signalGroup(pid, SIGTERM_VALUE)
        killTimer = loop.schedule(after: killGrace) { [self] _ in
            killTimer = nil
            if !finished { ChildProcess.signalGroup(pid, SIGKILL_VALUE) }
        }
    }

    /// terminate ends the run now (agent exiting on a second signal): SIGKILL to the group.
    public func terminate() {
        guard !finished else { return }
        ChildProcess.signalGroup(pid, SIGKILL_VALUE)
    }

    func line(_ stream: OutputStream, _ text: String) { onLine(stream, text) }

    private func exited(_ result: Result<ChildExit, Errno>) {
        finished = true
        if let t = timeoutTimer { loop.cancel(t) }
        if let t = killTimer { loop.cancel(t) }
        // Whatever the child wrote before exiting is in the pipes now; take it, then stop
        // reading (a background process the hook left behind may hold the pipes open).
        for reader in readers { reader.drainAndClose(loop: loop) }
        readers.removeAll()
        // The status is lost only if someone else reaped the child (ECHILD): a failed run.
        let exit = try? result.get()
        let lost = exit == nil ? "\(pid): exit status lost (\(result))" : nil
        let outcome = HookOutcome(exit: exit, timedOut: timedOut, duration: Clock.now() - started,
                                  droppedBytes: budget.dropped, spawnError: lost)
        let callback = onExit
        onExit = nil
        callback?(outcome)
    }
}

let SIGTERM_VALUE: Int32 = 15
let SIGKILL_VALUE: Int32 = 9

/// PipeReader reads one of a child's output pipes on the loop.
final class PipeReader: EventHandler {
    let descriptor: FileDescriptor
    let stream: OutputStream
    var lines: OutputLines
    weak var owner: HookProcess?
    private var registered = true
    private var closed = false

    init(descriptor: consuming FileDescriptor, stream: OutputStream, lines: OutputLines, owner: HookProcess) {
        self.descriptor = descriptor
        self.stream = stream
        self.lines = lines
        self.owner = owner
    }

    func handleEvents(_ events: EpollEvents, descriptor fd: Int32) {
        // At end of file the pipe stays readable (level-triggered): stop watching it.
        if readAvailable(), registered, let loop = owner?.loop {
            loop.unregister(descriptor.rawValue)
            registered = false
        }
    }

    /// chunksPerWakeUp bounds one wake-up's reading, so a hook writing without pause
    /// cannot keep the loop from its other work (the rest is read on the next turn).
    static let chunksPerWakeUp = 16

    /// readAvailable reads until the pipe is empty (EAGAIN), at end of file, or for
    /// `chunksPerWakeUp` chunks. Returns true at end of file.
    @discardableResult
    func readAvailable() -> Bool {
        guard !closed else { return true }
        var buffer = [UInt8](repeating: 0, count: 4096)
        for _ in 0..<Self.chunksPerWakeUp {
            // A read error on a pipe can only mean it is unusable: treat it as the end.
            let result: IOResult<Int>? = buffer.withUnsafeMutableBytes { raw in try? descriptor.read(into: raw) }
            switch result {
            case .ready(0)?, nil:
                finishLine()
                return true
            case .ready(let n)?:
                for line in lines.feed(buffer[0..<n]) { owner?.line(stream, line) }
            case .wouldBlock?:
                return false
            }
        }
        return false
    }

    private func finishLine() {
        if let last = lines.finish() { owner?.line(stream, last) }
    }

    func drainAndClose(loop: EventLoop) {
        if !readAvailable() { finishLine() }
        closed = true
        if registered { loop.unregister(descriptor.rawValue); registered = false }
    }
}
