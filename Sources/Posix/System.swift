// Clock, resource limits and threads.
import Glibc
public import Time

/// Clock reads the kernel clocks the rest of the program uses.
public enum Clock {
    /// boottime is CLOCK_BOOTTIME in nanoseconds: monotonic and, unlike
    /// CLOCK_MONOTONIC, still advancing while the process is stopped or the machine
    /// suspended — the clock leases must use (design §2).
    @inlinable public static func boottime() -> UInt64 { _boottime() }

    /// now is `boottime()` as an `Instant`: the reading the core, the timers and the
    /// lease arithmetic take, so no caller converts nanoseconds by hand.
    @inlinable public static func now() -> Instant { Instant(nanoseconds: Int64(_boottime())) }

    @usableFromInline static func _boottime() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_BOOTTIME, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// realtimeSeconds is wall-clock seconds since 1970 (for HTTP `Date`, never for timing).
    public static func realtimeSeconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME_COARSE, &ts)
        return Int64(ts.tv_sec)
    }
}

/// ResourceLimits adjusts process limits.
public enum ResourceLimits {
    /// raiseOpenFiles lifts the soft RLIMIT_NOFILE to `wanted` (capped at the hard
    /// limit) and returns the soft limit now in force; a server with a connection cap
    /// of N needs at least N + a few descriptors.
    @discardableResult
    public static func raiseOpenFiles(to wanted: UInt64 = .max) throws(Errno) -> UInt64 {
        var limit = rlimit()
        _ = try retrying("getrlimit") { getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) }
        let target = min(wanted, UInt64(limit.rlim_max))
        if UInt64(limit.rlim_cur) < target {
            limit.rlim_cur = rlim_t(target)
            _ = try retrying("setrlimit") { setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) }
        }
        return UInt64(limit.rlim_cur)
    }
}

/// PosixThread is a joinable OS thread; the event loop runs on one.
public final class PosixThread: Sendable {
    private let handle: pthread_t

    private final class Body {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    private init(handle: pthread_t) { self.handle = handle }

    /// spawn starts `body` on a new thread.
    public static func spawn(_ body: @escaping @Sendable () -> Void) throws(Errno) -> PosixThread {
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        var handle = pthread_t()
        let result = pthread_create(&handle, nil, { raw in
            let body = Unmanaged<Body>.fromOpaque(raw!).takeRetainedValue()
            body.run()
            return nil
        }, context)
        if result != 0 {
            Unmanaged<Body>.fromOpaque(context).release()
            throw Errno(rawValue: result)
        }
        return PosixThread(handle: handle)
    }

    /// join waits for the thread to finish. Call it once.
    public func join() {
        _ = pthread_join(handle, nil)
    }
}

extension PosixThread {
    /// sleepMs blocks the calling thread (never the loop thread: tests and start-up only).
    public static func sleepMs(_ ms: Int) throws(Errno) {
        var request = timespec(tv_sec: ms / 1000, tv_nsec: (ms % 1000) * 1_000_000)
        var remaining = timespec()
        while nanosleep(&request, &remaining) == -1 {
            let error = Errno.current
            guard error.rawValue == EINTR else { throw error }
            request = remaining
        }
    }

    /// kill sends `signal` to `pid` (hook timeouts; tests).
    public static func kill(pid: Int32, signal: Int32) throws(Errno) {
        _ = try retrying("kill") { Glibc.kill(pid, signal) }
    }
}

/// Memory gives freed heap memory back to the kernel.
public enum Memory {
    /// trimHeap returns free malloc pages to the kernel (glibc `malloc_trim`), so a
    /// server that just closed its connections does not keep their buffers' pages
    /// resident. Costs a walk of the free lists: call it when going idle, not per request.
    public static func trimHeap() {
        _ = linux.mallocTrim(0)
    }
}
