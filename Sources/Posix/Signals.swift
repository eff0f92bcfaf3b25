// Signals as descriptors: the agent blocks SIGTERM/SIGINT/SIGHUP in every thread and
// reads them from a signalfd on the event loop, so a handler never runs in the middle
// of anything.
import Glibc

/// SignalFD delivers the blocked `signals` as readable events.
public struct SignalFD: ~Copyable {
    public let descriptor: FileDescriptor

    /// init blocks `signals` for the calling thread (call it before starting threads,
    /// which inherit the mask) and opens a non-blocking signalfd for them.
    public init(signals: [Int32]) throws(Errno) {
        var set = sigset_t()
        sigemptyset(&set)
        for s in signals { sigaddset(&set, s) }
        let rc = pthread_sigmask(SIG_BLOCK, &set, nil)
        if rc != 0 { throw Errno(rawValue: rc) }
        // signalfd is not in Swift's Glibc module map: looked up like LinuxCalls does.
        // Flags SFD_NONBLOCK | SFD_CLOEXEC equal O_NONBLOCK | O_CLOEXEC on Linux.
        typealias SignalFDCall = @convention(c) (Int32, UnsafePointer<sigset_t>?, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "signalfd") else { throw Errno.notSupported }
        let call = unsafeBitCast(symbol, to: SignalFDCall.self)
        let fd = call(-1, &set, O_NONBLOCK | O_CLOEXEC)
        if fd == -1 { throw Errno.current }
        descriptor = FileDescriptor(adopting: fd)
    }

    /// next returns the next pending signal number, or nil when none is pending.
    public func next() throws(Errno) -> Int32? {
        // struct signalfd_siginfo is 128 bytes; ssi_signo is its first field (u32).
        var info = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0),
                    UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        let n = withUnsafeMutableBytes(of: &info) { Glibc.read(descriptor.rawValue, $0.baseAddress, $0.count) }
        if n == -1 {
            let e = Errno.current
            if e == .wouldBlock { return nil }
            if e == .interrupted { return try next() }
            throw e
        }
        return n == 128 ? Int32(truncatingIfNeeded: info.0 & 0xFFFF_FFFF) : nil
    }
}

/// SignalNumber names the signals the agent handles.
public enum SignalNumber {
    public static let terminate = SIGTERM
    public static let interrupt = SIGINT
    public static let hangup = SIGHUP
}

extension Clock {
    /// realtimeNanoseconds is wall-clock time since 1970 in nanoseconds, for log lines
    /// that outside checkers line up across nodes (never for timing decisions).
    public static func realtimeNanoseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}

/// Process is this process's identity.
public enum Process {
    public static var id: Int32 { getpid() }
}
