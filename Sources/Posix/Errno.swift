// The one place that turns a failed libc call into a Swift error (style rule 12, after
// apple/swift-system's Errno): EINTR is retried here, EAGAIN is a value not an error,
// and EBADF/EFAULT trap because they can only come from a bug in our own code.
import Glibc

/// Errno is a failed system call's error number with a readable name, thrown by every
/// wrapper in this module so callers can match on the cases they handle.
public struct Errno: Error, Hashable, Sendable, CustomStringConvertible {
    /// rawValue is the C `errno` value.
    public let rawValue: Int32
    @inlinable public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let wouldBlock = Errno(rawValue: EAGAIN)
    public static let interrupted = Errno(rawValue: EINTR)
    public static let badFileDescriptor = Errno(rawValue: EBADF)
    public static let addressInUse = Errno(rawValue: EADDRINUSE)
    public static let addressNotAvailable = Errno(rawValue: EADDRNOTAVAIL)
    public static let connectionRefused = Errno(rawValue: ECONNREFUSED)
    public static let connectionReset = Errno(rawValue: ECONNRESET)
    public static let connectionAborted = Errno(rawValue: ECONNABORTED)
    public static let brokenPipe = Errno(rawValue: EPIPE)
    public static let inProgress = Errno(rawValue: EINPROGRESS)
    public static let tooManyOpenFiles = Errno(rawValue: EMFILE)
    public static let tooManyOpenFilesInSystem = Errno(rawValue: ENFILE)
    public static let noBufferSpace = Errno(rawValue: ENOBUFS)
    public static let outOfMemory = Errno(rawValue: ENOMEM)
    public static let noSuchProcess = Errno(rawValue: ESRCH)
    public static let noChildProcess = Errno(rawValue: ECHILD)
    public static let invalidArgument = Errno(rawValue: EINVAL)
    public static let isDirectory = Errno(rawValue: EISDIR)
    public static let permissionDenied = Errno(rawValue: EACCES)
    public static let notPermitted = Errno(rawValue: EPERM)
    public static let noSuchFile = Errno(rawValue: ENOENT)
    public static let notSupported = Errno(rawValue: EOPNOTSUPP)
    public static let timedOut = Errno(rawValue: ETIMEDOUT)
    public static let exists = Errno(rawValue: EEXIST)
    public static let noSpace = Errno(rawValue: ENOSPC)
    public static let quotaExceeded = Errno(rawValue: EDQUOT)
    public static let io = Errno(rawValue: EIO)
    public static let notDirectory = Errno(rawValue: ENOTDIR)

    /// isDiskFull is true for the two ways a write can run out of room.
    public var isDiskFull: Bool { rawValue == ENOSPC || rawValue == EDQUOT }

    /// name is the symbolic constant (`ECONNRESET`), or `errno N` for ones we do not list.
    public var name: String {
        switch rawValue {
        case EAGAIN: "EAGAIN"
        case EINTR: "EINTR"
        case EBADF: "EBADF"
        case EADDRINUSE: "EADDRINUSE"
        case EADDRNOTAVAIL: "EADDRNOTAVAIL"
        case ECONNREFUSED: "ECONNREFUSED"
        case ECONNRESET: "ECONNRESET"
        case ECONNABORTED: "ECONNABORTED"
        case EPIPE: "EPIPE"
        case EINPROGRESS: "EINPROGRESS"
        case EMFILE: "EMFILE"
        case ENFILE: "ENFILE"
        case ENOBUFS: "ENOBUFS"
        case ENOMEM: "ENOMEM"
        case ESRCH: "ESRCH"
        case ECHILD: "ECHILD"
        case EINVAL: "EINVAL"
        case EACCES: "EACCES"
        case EPERM: "EPERM"
        case ENOENT: "ENOENT"
        case EOPNOTSUPP: "EOPNOTSUPP"
        case ETIMEDOUT: "ETIMEDOUT"
        case EEXIST: "EEXIST"
        case ENOSPC: "ENOSPC"
        case EDQUOT: "EDQUOT"
        case EIO: "EIO"
        case ENOTDIR: "ENOTDIR"
        default: "errno \(rawValue)"
        }
    }

    /// description is `NAME (message)`, e.g. `EADDRINUSE (Address already in use)`.
    public var description: String {
        // glibc's strerror is thread-safe since 2.32 (unknown numbers use a per-thread buffer).
        guard let text = strerror(rawValue) else { return name }
        let message = String(decoding: UnsafeRawBufferPointer(start: text, count: strlen(text)), as: UTF8.self)
        return "\(name) (\(message))"
    }

    /// current reads the calling thread's `errno`.
    @usableFromInline static var current: Errno { Errno(rawValue: errno) }
}

/// IOResult is the outcome of a non-blocking call: a value, or "try again when ready"
/// (EAGAIN), which is a normal event on a non-blocking descriptor, not an error.
public enum IOResult<Value> {
    case ready(Value)
    case wouldBlock
}

extension IOResult: Sendable where Value: Sendable {}
extension IOResult: Equatable where Value: Equatable {}

/// trapOnProgrammerError stops the process for errors that only a bug can cause: using a
/// closed or foreign descriptor (EBADF) or passing a bad pointer (EFAULT). Continuing
/// after either could read or write some other part of the process.
@inline(__always)
func trapOnProgrammerError(_ error: Errno, _ call: StaticString) {
    if error.rawValue == EBADF || error.rawValue == EFAULT {
        fatalError("\(call): \(error) — a descriptor or pointer passed by this process is wrong")
    }
}

/// retrying runs a libc call that returns -1 on failure, retrying on EINTR; other
/// failures are thrown (after trapping on programmer errors).
@inline(__always)
func retrying<R: BinaryInteger>(_ call: StaticString, _ body: () -> R) throws(Errno) -> R {
    while true {
        let result = body()
        if result != -1 { return result }
        let error = Errno.current
        if error.rawValue == EINTR { continue }
        trapOnProgrammerError(error, call)
        throw error
    }
}

/// retryingNonBlocking is `retrying` for calls on non-blocking descriptors: EAGAIN (and
/// its alias EWOULDBLOCK) comes back as `.wouldBlock`.
@inline(__always)
func retryingNonBlocking<R: BinaryInteger>(_ call: StaticString, _ body: () -> R) throws(Errno) -> IOResult<R> {
    while true {
        let result = body()
        if result != -1 { return .ready(result) }
        let error = Errno.current
        if error.rawValue == EINTR { continue }
        if error.rawValue == EAGAIN || error.rawValue == EWOULDBLOCK { return .wouldBlock }
        trapOnProgrammerError(error, call)
        throw error
    }
}
