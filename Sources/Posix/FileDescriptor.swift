// Ownership of a file descriptor (style rule 13, after swift-system's Mach.Port): the
// type is ~Copyable so exactly one owner closes it, in deinit, and giving it away is an
// explicit `consuming func release()`.
import Glibc

/// FileDescriptor owns an open descriptor and closes it when it goes out of scope, so a
/// descriptor can neither leak on an error path nor be closed twice.
public struct FileDescriptor: ~Copyable, Sendable {
    /// rawValue is the kernel's number for the descriptor; valid while `self` lives.
    public let rawValue: Int32

    /// init(adopting:) takes ownership of an open descriptor (it will be closed).
    public init(adopting rawValue: Int32) {
        precondition(rawValue >= 0, "FileDescriptor(adopting:) needs an open descriptor, got \(rawValue)")
        self.rawValue = rawValue
    }

    deinit {
        // close is not retried on EINTR: on Linux the descriptor is gone either way, and
        // retrying could close a descriptor another thread just opened.
        if Glibc.close(rawValue) == -1 { trapOnProgrammerError(Errno.current, "close") }
    }

    /// release gives up ownership without closing and returns the raw descriptor.
    public consuming func release() -> Int32 {
        let fd = rawValue
        discard self
        return fd
    }

    /// read reads up to `buffer.count` bytes; `.ready(0)` is end of file.
    @inlinable
    public borrowing func read(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> IOResult<Int> {
        try _read(rawValue, buffer)
    }

    /// write writes some prefix of `bytes`; on a socket the peer going away is an
    /// error (EPIPE), never a SIGPIPE (MSG_NOSIGNAL).
    @inlinable
    public borrowing func write(_ bytes: UnsafeRawBufferPointer) throws(Errno) -> IOResult<Int> {
        try _write(rawValue, bytes)
    }

    /// readBlocking reads what is available (at least one byte, or 0 at end of file) from
    /// a blocking descriptor (tests, start-up); a receive timeout (SO_RCVTIMEO) that
    /// expires throws `Errno.wouldBlock`.
    public borrowing func readBlocking(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        switch try _read(rawValue, buffer) {
        case .ready(let n): return n
        case .wouldBlock: throw Errno.wouldBlock
        }
    }

    /// writeAll writes all of `bytes` to a blocking descriptor.
    public borrowing func writeAll(_ bytes: UnsafeRawBufferPointer) throws(Errno) {
        var offset = 0
        while offset < bytes.count {
            switch try _write(rawValue, UnsafeRawBufferPointer(rebasing: bytes[offset...])) {
            case .ready(let n): offset += n
            case .wouldBlock: throw Errno.wouldBlock
            }
        }
    }

    /// setNonBlocking switches O_NONBLOCK on or off.
    public borrowing func setNonBlocking(_ on: Bool) throws(Errno) {
        let flags = try retrying("fcntl") { fcntl(rawValue, F_GETFL) }
        let wanted = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK
        if wanted != flags { _ = try retrying("fcntl") { fcntl(rawValue, F_SETFL, wanted) } }
    }
}

@usableFromInline
func _read(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> IOResult<Int> {
    try retryingNonBlocking("read") { Glibc.read(fd, buffer.baseAddress, buffer.count) }
}

@usableFromInline
func _write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(Errno) -> IOResult<Int> {
    try retryingNonBlocking("send") {
        let n = Glibc.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
        // Not a socket (pipe, eventfd): fall back to write(2).
        if n == -1 && errno == ENOTSOCK { return Glibc.write(fd, bytes.baseAddress, bytes.count) }
        return n
    }
}
