// Descriptors the event loop waits on besides sockets: a timer, a wake-up counter and
// a child process handle.
import Glibc

/// TimerFD is a timerfd on CLOCK_BOOTTIME, the clock leases use: it keeps counting
/// while the process is stopped or the machine is suspended, so a deadline that passed
/// during a pause fires at once on wake-up.
public struct TimerFD: ~Copyable {
    public let descriptor: FileDescriptor

    public init() throws(Errno) {
        descriptor = FileDescriptor(adopting: try retrying("timerfd_create") {
            linux.timerfdCreate(LinuxConstants.clockBoottime, LinuxConstants.nonBlocking | LinuxConstants.closeOnExec)
        })
    }

    /// arm makes the timer fire once at `deadlineNs` on `Clock.boottime()`'s scale
    /// (a deadline already past fires immediately).
    public func arm(deadlineNs: UInt64) throws(Errno) {
        // it_value of zero would disarm; the earliest possible time is 1 ns.
        let d = max(deadlineNs, 1)
        var spec = itimerspec()
        spec.it_value.tv_sec = Int(d / 1_000_000_000)
        spec.it_value.tv_nsec = Int(d % 1_000_000_000)
        _ = try retrying("timerfd_settime") { linux.timerfdSettime(descriptor.rawValue, LinuxConstants.timerAbsolute, &spec, nil) }
    }

    /// disarm stops the timer.
    public func disarm() throws(Errno) {
        var spec = itimerspec()
        _ = try retrying("timerfd_settime") { linux.timerfdSettime(descriptor.rawValue, 0, &spec, nil) }
    }

    /// drain clears the readiness; returns how many expirations happened.
    public func drain() throws(Errno) -> UInt64 {
        var count: UInt64 = 0
        switch try retryingNonBlocking("read", { Glibc.read(descriptor.rawValue, &count, 8) }) {
        case .ready: return count
        case .wouldBlock: return 0
        }
    }
}

/// EventFD is a counter another thread increments to wake the loop.
public struct EventFD: ~Copyable, Sendable {
    public let descriptor: FileDescriptor

    public init(nonBlocking: Bool = true) throws(Errno) {
        let flags = LinuxConstants.closeOnExec | (nonBlocking ? LinuxConstants.nonBlocking : 0)
        descriptor = FileDescriptor(adopting: try retrying("eventfd") { linux.eventfd(0, flags) })
    }

    /// signal adds one to the counter, making the descriptor readable. Safe from any
    /// thread; if the counter is saturated the waiter is already woken, so EAGAIN is fine.
    public func signal() {
        var one: UInt64 = 1
        _ = try? retryingNonBlocking("write") { Glibc.write(descriptor.rawValue, &one, 8) }
    }

    /// drain resets the counter and returns its value (0 when it was already zero).
    public func drain() throws(Errno) -> UInt64 {
        var count: UInt64 = 0
        switch try retryingNonBlocking("read", { Glibc.read(descriptor.rawValue, &count, 8) }) {
        case .ready: return count
        case .wouldBlock: return 0
        }
    }
}

/// ChildExit is how a child process ended.
public enum ChildExit: Hashable, Sendable {
    case exited(code: Int32)
    case signalled(signal: Int32)
}

/// PidFD is a descriptor for a child process that becomes readable when the child
/// exits, so the loop learns of the exit without blocking in waitpid or handling SIGCHLD.
public struct PidFD: ~Copyable {
    public let descriptor: FileDescriptor
    /// pid is the process this descriptor refers to.
    public let pid: Int32

    /// init(pid:) opens a descriptor for a child that has not been reaped yet (ESRCH if it has).
    public init(pid: Int32) throws(Errno) {
        descriptor = FileDescriptor(adopting: try retrying("pidfd_open") { linux.pidfdOpen(pid, 0) })
        self.pid = pid
    }

    /// reap collects the exit status if the child has exited, without blocking; `nil`
    /// while it still runs.
    public func reap() throws(Errno) -> ChildExit? {
        var status: Int32 = 0
        let result = try retrying("waitpid") { waitpid(pid, &status, WNOHANG) }
        if result == 0 { return nil }
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros; decode as <bits/waitstatus.h> does.
        if status & 0x7f == 0 { return .exited(code: (status >> 8) & 0xff) }
        return .signalled(signal: status & 0x7f)
    }
}

/// ChildProcess starts processes from an argument vector (no shell).
public enum ChildProcess {
    /// initCleanSignals initialises spawn attributes so the child starts with no blocked
    /// signals and default handlers, plus `extraFlags` (e.g. POSIX_SPAWN_SETPGROUP).
    /// Destroy them with posix_spawnattr_destroy.
    static func initCleanSignals(_ attributes: inout posix_spawnattr_t, extraFlags: Int32) {
        posix_spawnattr_init(&attributes)
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(Int32(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF) | extraFlags))
    }

    /// spawn runs `argv[0]` (searched in PATH) with `argv` and the given environment
    /// (`nil`: this process's), and returns its pid. Standard descriptors are inherited.
    public static func spawn(_ argv: [String], environment: [String]? = nil) throws(Errno) -> Int32 {
        precondition(!argv.isEmpty, "ChildProcess.spawn needs at least the program name")
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        var cEnv: [UnsafeMutablePointer<CChar>?]? = environment.map { $0.map { strdup($0) } + [nil] }
        defer {
            for p in cArgs { free(p) }
            if let e = cEnv { for p in e { free(p) } }
        }
        // The child starts with no blocked signals and default handlers: whatever this
        // thread blocks or ignores (runtimes often block signals in worker threads)
        // must not leak into a hook, or SIGTERM on timeout would never reach it.
        var attributes = posix_spawnattr_t()
        ChildProcess.initCleanSignals(&attributes, extraFlags: 0)
        defer { posix_spawnattr_destroy(&attributes) }
        var pid: pid_t = 0
        let result: Int32
        if cEnv != nil {
            result = posix_spawnp(&pid, cArgs[0]!, nil, &attributes, &cArgs, &cEnv!)
        } else {
            result = posix_spawnp(&pid, cArgs[0]!, nil, &attributes, &cArgs, environ)
        }
        if result != 0 { throw Errno(rawValue: result) }
        return pid
    }
}

